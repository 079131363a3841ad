"""Reading timesheets (C1): formats, column mapping, line numbers, and files that are refused."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest

from hq_sync.config import DurationFormat, TimesheetsSource
from hq_sync.timesheets.reader import RowProblem, TimesheetRefused, parse_decimal, parse_duration, read_timesheet

CFG = TimesheetsSource()


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def xlsx(tmp_path: Path, name: str, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


@pytest.mark.parametrize(("text", "fmt", "seconds"), [
    ("1,5", DurationFormat.AUTO, 5400), ("1.5", DurationFormat.AUTO, 5400), ("1:30", DurationFormat.AUTO, 5400),
    ("0:45", DurationFormat.H_MM, 2700), ("2 h", DurationFormat.AUTO, 7200), ("1,25 Std.", DurationFormat.HOURS, 4500),
    ("90", DurationFormat.MINUTES, 5400), ("7:05:30", DurationFormat.AUTO, 25530),
    (1.75, DurationFormat.AUTO, 6300), (time(2, 15), DurationFormat.AUTO, 8100), (timedelta(hours=3), DurationFormat.H_MM, 10800),
])
def test_durations(text, fmt, seconds):
    assert parse_duration(text, fmt) == seconds


@pytest.mark.parametrize(("text", "fmt", "reason"), [
    ("", DurationFormat.AUTO, "missing_duration"), ("abc", DurationFormat.AUTO, "invalid_duration"),
    ("1:75", DurationFormat.AUTO, "invalid_duration"), ("1,5", DurationFormat.H_MM, "invalid_duration"),
    ("0", DurationFormat.AUTO, "invalid_duration"), ("-1", DurationFormat.AUTO, "invalid_duration"),
    ("25:00", DurationFormat.AUTO, "duration_over_24h"),
])
def test_unreadable_durations(text, fmt, reason):
    with pytest.raises(RowProblem) as err:
        parse_duration(text, fmt)
    assert err.value.reason == reason


def test_decimal_separators():
    assert parse_decimal("1.234,5") == 1234.5 and parse_decimal("1,234.5") == 1234.5
    assert parse_decimal("1.5", ",") == 15.0  # '.' is a thousands separator when ',' is the decimal one
    assert parse_decimal("2,5", ".") == 25.0


def test_german_csv_with_title_semicolons_and_line_numbers(tmp_path):
    # Windows-1252, a title and a blank line before the header, a quoted comment over two lines.
    text = (
        "Zeiterfassung März 2026\n\n"
        "Datum;Projekt;Dauer;Kommentar;E-Mail\n"
        '02.03.2026;Website Relaunch;1,5;"Konzept\nzweite Zeile";anna@acme.example\n'
        "03.03.2026;Website Relaunch;1:45;Review;anna@acme.example\n"
        ";;9,25;Summe;\n"
        "32.03.2026;Website Relaunch;1;kaputt;anna@acme.example\n"
    )
    sheet = read_timesheet(write(tmp_path, "maerz.csv", text, "cp1252"), CFG)
    assert sheet.kind == "csv" and sheet.header_line == 3
    assert sheet.columns == {"date": "Datum", "project": "Projekt", "duration": "Dauer", "comment": "Kommentar", "email": "E-Mail"}
    first, second, bad = sheet.rows
    assert (first.line, first.work_date, first.duration_s, first.comment) == (4, date(2026, 3, 2), 5400, "Konzept\nzweite Zeile")
    assert (second.line, second.duration_s, second.email) == (6, 6300, "anna@acme.example")
    assert sheet.ignored_lines == [7]  # the total line is no booking
    assert (bad.line, bad.problem) == (8, "invalid_date") and "32.03.2026" in bad.detail


def test_excel_with_dates_times_and_decimal_hours(tmp_path):
    path = xlsx(tmp_path, "export.xlsx", [
        ["timeBro Export"], [],
        ["Projekt", "Datum", "Dauer", "Kommentar", "Mitarbeiter", "Aufgabe", "Start"],
        ["Website Relaunch", datetime(2026, 3, 2), time(1, 30), "Konzept", "Anna Berg", "Konzeption/Wireframes", time(9, 0)],
        [],
        ["1001 - App", date(2026, 3, 3), 2.25, None, "Anna Berg", None, "13:15"],
    ])
    sheet = read_timesheet(path, CFG)
    assert sheet.kind == "xlsx" and sheet.header_line == 3
    a, b = sheet.rows
    assert (a.line, a.work_date, a.duration_s, a.person, a.task, a.start_time) == (
        4, date(2026, 3, 2), 5400, "Anna Berg", "Konzeption/Wireframes", time(9, 0))
    assert (b.line, b.duration_s, b.project, b.start_time, b.comment) == (6, 8100, "1001 - App", time(13, 15), None)


def test_custom_column_names_and_formats(tmp_path):
    cfg = TimesheetsSource.model_validate({
        "columns": {"date": ["Tag der Arbeit"], "duration": ["Minuten"], "project": ["Kostenstelle"]},
        "date_formats": ["%Y/%m/%d"], "duration_format": "minutes"})
    text = "Tag der Arbeit,Kostenstelle,Minuten,Email\n2026/03/02,Intern,90,ben@acme.example\n"
    [row] = read_timesheet(write(tmp_path, "x.csv", text), cfg).rows
    assert (row.work_date, row.duration_s, row.project) == (date(2026, 3, 2), 5400, "Intern")


def test_person_from_the_file_name(tmp_path):
    text = "Datum;Projekt;Dauer;Kommentar\n02.03.2026;Website;2;x\n"
    sheet = read_timesheet(write(tmp_path, "Anna.Berg@acme.example timebro 2026-03.csv", text), CFG)
    assert sheet.person_from_file_name == "Anna.Berg@acme.example"
    assert sheet.rows[0].email == "Anna.Berg@acme.example"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("wrong.csv", "Name;Betrag;Konto\nx;1;2\n", "is not a timesheet: none of its first 20 rows"),
    ("junk.csv", bytes(range(256)) * 40, "is a binary file"),
    ("junk.xlsx", b"PK\x03\x04" + os.urandom(3000), "is not a readable Excel workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 600, "old Excel file (.xls)"),
    ("scan.pdf", b"%PDF-1.7\n...", "is a PDF"),
    ("empty.csv", b"", "is empty"),
    ("only-header.csv", "Datum;Projekt;Dauer;E-Mail\n;;;\n", "no booking rows"),
    ("noperson.csv", "Datum;Projekt;Dauer\n02.03.2026;Website;1\n", "has no person"),
])
def test_not_a_timesheet_is_refused_with_the_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TimesheetRefused, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_timesheet(path, CFG)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # 50 MB, sparse: nothing is read before the size check
        handle.truncate(50 * 1024 * 1024)
    opened = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or (_ for _ in ()).throw(AssertionError("read")))
    with pytest.raises(TimesheetRefused, match=r"huge.csv is 50.0 MB; timesheets may be at most 10 MB"):
        read_timesheet(path, CFG)
    assert opened == []
