"""Matching timesheet rows to HQ users, projects and tasks, and the per-row keys (C1)."""

from __future__ import annotations

from datetime import date

from hq_sync.timesheets.matching import Matcher, key_day
from hq_sync.timesheets.reader import TimesheetRow

USERS = [{"Id": 1, "FirstName": "Anna", "LastName": "Berg", "EMailWork": "Anna@acme.example"},
         {"Id": 2, "FirstName": "Ben", "LastName": "Kurz", "EMailWork": "ben@acme.example"}]
PROJECTS = [{"Id": 10, "Name": "Website", "Number": "1001"}, {"Id": 11, "Name": "App", "Number": "1002"},
            {"Id": 12, "Name": "Doppelt", "Number": "1003"}, {"Id": 13, "Name": "doppelt ", "Number": "1004"}]
TASKS = {10: [{"Id": 100, "Name": "Konzeption", "ParentId": None}, {"Id": 101, "Name": "Wireframes", "ParentId": 100},
              {"Id": 102, "Name": "Allgemein", "ParentId": None}, {"Id": 103, "Name": "Sonstiges", "ParentId": 102},
              {"Id": 104, "Name": "Review", "ParentId": 100}, {"Id": 105, "Name": "Review", "ParentId": 102}]}


def row(line, **values):
    base = {"work_date": date(2026, 3, 2), "duration_s": 3600, "email": "anna@acme.example", "project": "Website"}
    return TimesheetRow(line=line, cells={}, **{**base, **values})


def matcher(default_task="Allgemein/Sonstiges"):
    return Matcher(USERS, PROJECTS, default_task, "Europe/Berlin", tasks_by_project=TASKS)


def test_people_projects_tasks():
    bookings, held = matcher().match([
        row(1, task="Konzeption/Wireframes"),
        row(2, email=None, person="berg, anna", project="1001 - Website relaunch", task="Wireframes"),
        row(3, email="nobody@x", person="Ben  Kurz", project=None, project_number="1001"),
        row(4, task="Review"),  # two tasks of that name
        row(5, project="doppelt"),  # two projects of that name
        row(6, task="Gibt es nicht"),
    ])
    assert [(b.line, b.hq_user_id, b.body["ProjectId"], b.body["TaskId"]) for b in bookings] == [
        (1, 1, 10, 101), (2, 1, 10, 101), (3, 2, 10, 103), (6, 1, 10, 103)]
    assert bookings[3].notes and "default task" in bookings[3].notes[0]
    assert [(h.line, h.reason) for h in held] == [(4, "task_ambiguous"), (5, "project_ambiguous")]
    assert bookings[0].body["StartDate"] == "2026-03-01T23:00:00Z"  # midnight in Berlin


def test_keys_count_occurrences_and_name_person_and_day():
    bookings, _ = matcher().match([row(1), row(2), row(3, work_date=date(2026, 3, 3))])
    assert [b.key for b in bookings] == ["1|2026-03-02|10|103|1", "1|2026-03-02|10|103|2", "1|2026-03-03|10|103|1"]
    assert key_day(bookings[1].key) == (1, date(2026, 3, 2))


def test_without_default_task():
    bookings, held = matcher(default_task=None).match([row(1), row(2, task="Gibt es nicht")])
    assert bookings[0].body["TaskId"] is None  # booked on the project without a task
    assert [(h.line, h.reason) for h in held] == [(2, "task_unmatched")]
