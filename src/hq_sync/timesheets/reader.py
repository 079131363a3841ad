"""Read an Excel or CSV timesheet into typed rows (product.md C1), or refuse it with the reason.

Pure functions over one file and the tenant's ``TimesheetsSource`` settings: no API, no database.

- **Refused** (``TimesheetRefused``, nothing is imported): larger than ``max_file_mb`` (checked
  before reading), empty, binary (NUL bytes, a PDF, an old ``.xls``), an unreadable workbook, no
  row among the first ``HEADER_SEARCH_ROWS`` with the date, duration and project columns, no
  person (neither an e-mail/person column nor an e-mail address in the file name), or no data row.
- **Row problems** (the row is held back with its line number, the rest is imported): an
  unreadable date, start or duration, a duration of zero or below, or over 24 h.

Line numbers are the file's own: the CSV line a row starts on (quoted line breaks counted), or the
Excel row number. Rules and defaults: docs/timesheets.md.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hq_sync.config import DurationFormat, TimesheetsSource
from hq_sync.errors import NotRetryable

HEADER_SEARCH_ROWS = 20  # the header row may follow a title or a few notes
MAX_DURATION_S = 24 * 3600  # HQ takes at most 24 h per reporting
FIELDS = ("date", "start", "duration", "project", "project_number", "task", "email", "person", "comment")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_HOURS_SUFFIX = re.compile(r"\s*(h|std\.?|stunden|hours?)\s*$", re.IGNORECASE)
_MINUTES_SUFFIX = re.compile(r"\s*(min\.?|minuten|minutes?)\s*$", re.IGNORECASE)


class TimesheetRefused(NotRetryable):
    """The file is not a timesheet we can read; nothing of it is imported. The message says why."""


class RowProblem(ValueError):
    """One cell of a row cannot be read; ``reason`` is the machine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class TimesheetRow:
    """One data row as read: typed values, or the problem that holds it back."""

    line: int
    cells: dict[str, str]  # field -> the cell as text
    work_date: date | None = None
    start_time: time | None = None
    duration_s: int | None = None
    email: str | None = None
    person: str | None = None
    project: str | None = None
    project_number: str | None = None
    task: str | None = None
    comment: str | None = None
    problem: str | None = None
    detail: str | None = None


@dataclass
class Timesheet:
    """A readable timesheet: where its header is, which column is which field, its rows."""

    kind: str  # "csv" | "xlsx"
    header_line: int
    columns: dict[str, str]  # field -> header text as found
    rows: list[TimesheetRow] = field(default_factory=list)
    ignored_lines: list[int] = field(default_factory=list)  # totals / note lines (no date, no project)
    person_from_file_name: str | None = None


# -- cells --------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A cell as text ('' for empty); whole floats without '.0'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _header_key(value: Any) -> str:
    return " ".join(_text(value).rstrip(":").split()).casefold()


def parse_decimal(text: str, separator: str = "auto") -> float:
    """A decimal number written either way: ``1,5`` (German), ``1.5``, ``1.234,5``, ``1,234.5``."""
    t = text.strip().replace(" ", "").replace("\u00a0", "")
    if separator == ",":
        t = t.replace(".", "").replace(",", ".")
    elif separator == ".":
        t = t.replace(",", "")
    elif "," in t and "." in t:  # the one that comes last is the decimal separator
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    else:
        t = t.replace(",", ".")
    return float(t)


def parse_duration(value: Any, fmt: DurationFormat, separator: str = "auto") -> int:
    """A duration cell in whole seconds (``RowProblem`` when it cannot be read or is not positive)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise RowProblem("missing_duration", "the duration is empty")
        seconds = float(value) * (60 if fmt is DurationFormat.MINUTES else 3600)
    else:
        seconds = _text_seconds(_text(value), fmt, separator)
    seconds = round(seconds)
    if seconds <= 0:
        raise RowProblem("invalid_duration", f"duration {_text(value)!r} is not more than zero")
    if seconds > MAX_DURATION_S:
        raise RowProblem(
            "duration_over_24h", f"duration {_text(value)!r} is over 24 h; HQ takes at most 24 h per reporting"
        )
    return int(seconds)


def _text_seconds(text: str, fmt: DurationFormat, separator: str) -> float:
    """A duration written as text (h:mm, decimal hours or minutes) in seconds."""
    if not text:
        raise RowProblem("missing_duration", "the duration is empty")
    try:
        if ":" in text and fmt in (DurationFormat.AUTO, DurationFormat.H_MM):
            return _h_mm_seconds(text)
        if fmt is DurationFormat.H_MM:
            raise RowProblem(
                "invalid_duration",
                f"duration {text!r} is not h:mm (e.g. 1:30), as the tenant's duration_format says",
            )
        if fmt is DurationFormat.MINUTES:
            return parse_decimal(_MINUTES_SUFFIX.sub("", text), separator) * 60
        return parse_decimal(_HOURS_SUFFIX.sub("", text), separator) * 3600
    except ValueError:
        raise RowProblem(
            "invalid_duration", f"duration {text!r} is neither decimal hours (1,5) nor h:mm (1:30)"
        ) from None


def _h_mm_seconds(text: str) -> int:
    """``h:mm`` or ``h:mm:ss`` (an ``h`` suffix allowed) in seconds; ``ValueError`` otherwise."""
    parts = _HOURS_SUFFIX.sub("", text).split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(text)
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    if m >= 60 or s >= 60:
        raise ValueError(text)
    return h * 3600 + m * 60 + s


def parse_date(value: Any, formats: list[str]) -> date:
    """A date cell: an Excel date, or text in one of ``formats`` (``RowProblem`` otherwise)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        raise RowProblem("missing_date", "the date is empty")
    candidate = text.split(" ")[0] if re.match(r"^\d{4}-\d{2}-\d{2} 00:00:00$", text) else text
    for fmt in formats:
        try:
            return datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    raise RowProblem("invalid_date", f"date {text!r} matches none of the formats {', '.join(formats)}")


def parse_start(value: Any) -> time | None:
    """A start-of-work cell (``9:00``, ``09:00:00``, an Excel time), None when empty."""
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    text = _text(value)
    if not text:
        return None
    try:
        return time.fromisoformat(text if len(text.split(":")[0]) == 2 else f"0{text}")
    except ValueError:
        raise RowProblem("invalid_start", f"start {text!r} is not a time of day (e.g. 09:00)") from None


# -- files --------------------------------------------------------------------------------------
def _sniff_kind(head: bytes, name: str) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise TimesheetRefused(f"{name} is an old Excel file (.xls); save it as .xlsx or CSV and drop it again")
    if head.startswith(b"%PDF"):
        raise TimesheetRefused(f"{name} is a PDF, not a timesheet (Excel .xlsx or CSV)")
    if b"\x00" in head:
        raise TimesheetRefused(f"{name} is a binary file, not a timesheet (Excel .xlsx or CSV)")
    return "csv"


def _csv_rows(data: bytes, name: str, encoding: str | None) -> list[tuple[int, list[Any]]]:
    text = None
    for enc in [encoding] if encoding else ["utf-8-sig", "cp1252"]:
        try:
            text = data.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        raise TimesheetRefused(
            f"{name} cannot be read as text ({encoding or 'UTF-8 or Windows-1252'}); not a CSV timesheet"
        )
    sample = text[:20000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except csv.Error:
        dialect = _fallback_dialect(sample)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[tuple[int, list[Any]]] = []
    line = 1
    try:
        for cells in reader:
            rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise TimesheetRefused(f"{name} is not a readable CSV file (line {reader.line_num}: {exc})") from None
    return rows


def _fallback_dialect(sample: str) -> type[csv.Dialect]:
    """Excel's CSV dialect with the delimiter the first line uses most (when the sniffer gives up)."""
    first = sample.splitlines()[0] if sample.splitlines() else ""

    class Dialect(csv.excel):
        delimiter = max(";,\t|", key=first.count)

    return Dialect


def _xlsx_rows(path: Path, name: str, sheet: str | int | None) -> list[tuple[int, list[Any]]]:
    import pandas as pd

    try:
        frame = pd.read_excel(
            path, sheet_name=0 if sheet is None else sheet, header=None, dtype=object, engine="openpyxl"
        )
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise TimesheetRefused(f"{name} is not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:  # e.g. no such sheet
        raise TimesheetRefused(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a corrupt workbook
        raise TimesheetRefused(f"{name} is not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    # read_excel keeps empty rows inside the sheet, so the frame's index + 1 is the Excel row number.
    return [
        (int(index) + 1, list(values))
        for index, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True)
    ]


def _find_header(
    rows: list[tuple[int, list[Any]]], cfg: TimesheetsSource, name: str
) -> tuple[int, dict[str, int], dict[str, str]]:
    wanted = {f: {_header_key(h) for h in getattr(cfg.columns, f)} for f in FIELDS}
    looked = 0
    for index, (_line, cells) in enumerate(rows):
        keys = [_header_key(c) for c in cells]
        if not any(keys):
            continue
        looked += 1
        columns: dict[str, int] = {}
        for f in FIELDS:
            for col, key in enumerate(keys):
                if key and key in wanted[f] and col not in columns.values():
                    columns[f] = col
                    break
        if "date" in columns and "duration" in columns and ("project" in columns or "project_number" in columns):
            return index, columns, {f: _text(cells[c]) for f, c in columns.items()}
        if looked >= HEADER_SEARCH_ROWS:
            break
    first = next((c for _, c in rows if any(_text(x) for x in c)), [])
    found = ", ".join(repr(_text(c)) for c in first if _text(c)) or "nothing"
    expected = "; ".join(
        f"{f}: {' / '.join(getattr(cfg.columns, f))}" for f in ("date", "duration", "project", "project_number")
    )
    raise TimesheetRefused(
        f"{name} is not a timesheet: none of its first {HEADER_SEARCH_ROWS} rows has the columns for date, duration "
        f"and project (or project number). Expected headers — {expected}. First row found: {found}. "
        "Adjust sources.timesheets.columns in the tenant file if your export names them differently."
    )


def read_timesheet(path: Path, cfg: TimesheetsSource, *, name: str | None = None) -> Timesheet:
    """Read one timesheet file; raises ``TimesheetRefused`` when it is not one (nothing to import)."""
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TimesheetRefused(f"{name} cannot be read: {exc}") from None
    limit = int(cfg.max_file_mb * 1024 * 1024)
    if size > limit:
        raise TimesheetRefused(
            f"{name} is {size / 1024 / 1024:.1f} MB; timesheets may be at most {cfg.max_file_mb:g} MB "
            "(sources.timesheets.max_file_mb). Nothing was imported"
        )
    if size == 0:
        raise TimesheetRefused(f"{name} is empty")
    with path.open("rb") as handle:
        head = handle.read(65536)
    kind = _sniff_kind(head, name)
    rows = _xlsx_rows(path, name, cfg.sheet) if kind == "xlsx" else _csv_rows(path.read_bytes(), name, cfg.encoding)
    header_index, columns, headers = _find_header(rows, cfg, name)
    sheet = Timesheet(kind=kind, header_line=rows[header_index][0], columns=headers)
    if "email" not in columns and "person" not in columns:
        match = _EMAIL.search(name)
        if match is None:
            raise TimesheetRefused(
                f"{name} has no person: no e-mail column ({' / '.join(cfg.columns.email)}), no person column "
                f"({' / '.join(cfg.columns.person)}), and the file name holds no e-mail address (name a one-person "
                "export like 'anna@agentur.de timebro 2026-03.xlsx')"
            )
        sheet.person_from_file_name = match.group(0)
    for line, cells in rows[header_index + 1 :]:
        raw = {f: (cells[c] if c < len(cells) else None) for f, c in columns.items()}
        texts = {f: _text(v) for f, v in raw.items()}
        if not any(texts.values()):
            continue  # an empty line
        if not texts.get("date") and not texts.get("project") and not texts.get("project_number"):
            sheet.ignored_lines.append(line)  # a total or a note line, not a booking
            continue
        sheet.rows.append(_row(line, raw, texts, cfg, sheet.person_from_file_name))
    if not sheet.rows:
        raise TimesheetRefused(
            f"{name} has the timesheet columns (header in line {sheet.header_line}) but no booking rows"
        )
    return sheet


def _row(
    line: int, raw: dict[str, Any], texts: dict[str, str], cfg: TimesheetsSource, person_from_name: str | None
) -> TimesheetRow:
    values: dict[str, Any] = {
        "email": (texts.get("email") or person_from_name or None),
        "person": texts.get("person") or None,
        "project": texts.get("project") or None,
        "project_number": texts.get("project_number") or None,
        "task": texts.get("task") or None,
        "comment": texts.get("comment") or None,
    }
    if values["email"] is None and values["person"] and _EMAIL.fullmatch(values["person"]):
        values["email"], values["person"] = values["person"], None  # a person column holding e-mails
    try:
        values["work_date"] = parse_date(raw.get("date"), cfg.date_formats)
        values["start_time"] = parse_start(raw.get("start"))
        values["duration_s"] = parse_duration(raw.get("duration"), cfg.duration_format, cfg.decimal_separator)
    except RowProblem as exc:
        return TimesheetRow(line=line, cells=texts, problem=exc.reason, detail=str(exc), **values)
    if not values["email"] and not values["person"]:
        return TimesheetRow(
            line=line, cells=texts, problem="missing_person", detail="the row names no person", **values
        )
    return TimesheetRow(line=line, cells=texts, **values)
