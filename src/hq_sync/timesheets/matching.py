"""Timesheet rows → the HQ reportings they become (product.md C1): people, projects, tasks, keys.

Pure functions over the rows as read and HQ's master data (users, projects, tasks); no I/O.

- **People**: by e-mail (case-insensitive), else by full name ("First Last" or "Last, First",
  case and spaces ignored); a name two HQ users share is held back, never guessed.
- **Projects**: by number (exact, trimmed), else by name (case and spaces ignored); a project
  cell that starts with a project number followed by a space, "-" or ":" (``1001 - Website``)
  matches that number.
- **Tasks**: by name within the project (``Phase/Task`` or a name unique in the project), else
  the tenant's ``default_task``; without one, a row naming no task is booked on the project
  without a task, and a row naming an unknown task is held back.
- **Row key** (what makes the import idempotent per row): person, day, project, task and the
  occurrence of that combination in the file (1st, 2nd, ...). The same row in a later or
  overlapping file has the same key, so it is booked once; a corrected duration or comment
  updates the reporting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from hq_sync.timesheets.reader import TimesheetRow


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


@dataclass(frozen=True)
class Booking:
    """A row that becomes an HQ reporting."""

    key: str
    line: int
    hq_user_id: int
    work_date: date
    body: dict[str, Any]  # UserId, ProjectId, TaskId, StartDate, Duration, Description
    notes: tuple[str, ...] = ()  # e.g. "task 'X' not in the project: booked on the default task"


@dataclass(frozen=True)
class Held:
    """A row that is held back: line, reason code and a sentence."""

    line: int
    reason: str
    detail: str
    context: dict[str, Any] = field(default_factory=dict)
    day: tuple[int, date] | None = None  # (HQ user, day) when both are known


def _lookup(
    key: str | None, by_key: dict[str, int], name: str | None, by_name: dict[str, set[int]]
) -> tuple[int | None, int]:
    """(the id ``key`` names (e-mail, number), else the one id called ``name``, else None; how many
    ids are called ``name``)."""
    if key:
        found = by_key.get(_norm(key))
        if found is not None:
            return found, 0
    ids = by_name.get(_norm(name), set()) if name else set()
    return (next(iter(ids)) if len(ids) == 1 else None), len(ids)


@dataclass
class Matcher:
    """HQ master data, indexed for matching rows."""

    users: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    default_task: str | None
    timezone: str
    tasks_by_project: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_email = {_norm(u.get("EMailWork")): int(u["Id"]) for u in self.users if u.get("EMailWork")}
        self.by_name: dict[str, set[int]] = {}
        for u in self.users:
            first, last = (u.get("FirstName") or "").strip(), (u.get("LastName") or "").strip()
            for name in (f"{first} {last}", f"{last}, {first}", f"{last} {first}"):
                if _norm(name).strip(", "):
                    self.by_name.setdefault(_norm(name), set()).add(int(u["Id"]))
        self.by_number = {_norm(str(p["Number"])): int(p["Id"]) for p in self.projects if p.get("Number")}
        self.by_project_name: dict[str, set[int]] = {}
        for p in self.projects:
            self.by_project_name.setdefault(_norm(p.get("Name")), set()).add(int(p["Id"]))
        self.project_names = {int(p["Id"]): str(p.get("Name") or "") for p in self.projects}

    # -- people -------------------------------------------------------------------------------
    def user(self, row: TimesheetRow) -> int | Held:
        found, named = _lookup(row.email, self.by_email, row.person, self.by_name)
        if found is not None:
            return found
        if named > 1:
            return Held(
                row.line,
                "person_ambiguous",
                f"line {row.line}: {named} HQ users are called {row.person!r}; add an e-mail column",
                {"person": row.person},
            )
        who = row.email or row.person
        return Held(
            row.line,
            "unknown_person",
            f"line {row.line}: no HQ user has the e-mail or name {who!r}; the row is booked when the file "
            "is imported again after the user exists in HQ",
            {"email": row.email, "person": row.person},
        )

    # -- projects -----------------------------------------------------------------------------
    def project(self, row: TimesheetRow) -> int | Held:
        found, named = _lookup(row.project_number, self.by_number, row.project, self.by_project_name)
        if found is not None:
            return found
        if named > 1:
            return Held(
                row.line,
                "project_ambiguous",
                f"line {row.line}: {named} HQ projects are called {row.project!r}; add a project number column",
                {"project": row.project},
            )
        if row.project:
            prefix = re.match(r"^\s*(\S+?)\s*[-:]?\s+\S", row.project)
            if prefix and _norm(prefix.group(1)) in self.by_number:
                return self.by_number[_norm(prefix.group(1))]
        what = " / ".join(x for x in (row.project_number, row.project) if x)
        return Held(
            row.line,
            "project_unmatched",
            f"line {row.line}: no HQ project has the number or name {what!r}",
            {"project": row.project, "project_number": row.project_number},
        )

    # -- tasks --------------------------------------------------------------------------------
    def _find_task(self, project_id: int, name: str) -> list[int]:
        tasks = self.tasks_by_project.get(project_id, [])
        by_id = {int(t["Id"]): t for t in tasks}
        wanted = _norm(name)
        if "/" in name:
            phase, _, task = name.rpartition("/")
            return [
                int(t["Id"])
                for t in tasks
                if _norm(t.get("Name")) == _norm(task)
                and t.get("ParentId")
                and _norm((by_id.get(int(t["ParentId"])) or {}).get("Name")) == _norm(phase)
            ]
        return [int(t["Id"]) for t in tasks if _norm(t.get("Name")) == wanted]

    def task(self, row: TimesheetRow, project_id: int) -> tuple[int | None, tuple[str, ...]] | Held:
        """The HQ task of a row (None: booked without a task) and notes, or why it is held back."""
        notes: tuple[str, ...] = ()
        if row.task:
            found = self._find_task(project_id, row.task)
            if len(found) == 1:
                return found[0], ()
            if len(found) > 1:
                return Held(
                    row.line,
                    "task_ambiguous",
                    f"line {row.line}: project {self.project_names.get(project_id)!r} has {len(found)} tasks called "
                    f"{row.task!r}; write it as 'Phase/Task'",
                    {"task": row.task, "project_id": project_id},
                )
            if not self.default_task:
                return Held(
                    row.line,
                    "task_unmatched",
                    f"line {row.line}: project {self.project_names.get(project_id)!r} has no task {row.task!r} and "
                    "the tenant has no default_task",
                    {"task": row.task, "project_id": project_id},
                )
            notes = (f"task {row.task!r} is not in the project: booked on the default task {self.default_task!r}",)
        if not self.default_task:
            return None, notes
        found = self._find_task(project_id, self.default_task)
        if len(found) != 1:
            return Held(
                row.line,
                "default_task_missing",
                f"line {row.line}: project {self.project_names.get(project_id)!r} has "
                f"{'no' if not found else len(found)} task(s) called {self.default_task!r} (the tenant's default_task)",
                {"task": row.task, "default_task": self.default_task, "project_id": project_id},
            )
        return found[0], notes

    # -- rows ---------------------------------------------------------------------------------
    def start_utc(self, day: date, start: time | None) -> str:
        local = datetime.combine(day, start or time(), ZoneInfo(self.timezone))
        return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def match(self, rows: Iterable[TimesheetRow]) -> tuple[list[Booking], list[Held]]:
        """Bookings (with their keys) and held rows of one file, in line order."""
        bookings: list[Booking] = []
        held: list[Held] = []
        occurrences: dict[tuple[int, date, int, int | None], int] = {}
        for row in sorted(rows, key=lambda r: r.line):
            user = self.user(row) if (row.email or row.person) else None
            day_key = (user, row.work_date) if isinstance(user, int) and row.work_date else None
            if row.problem:
                held.append(Held(row.line, row.problem, f"line {row.line}: {row.detail}", dict(row.cells), day_key))
                continue
            if isinstance(user, Held) or user is None:
                held.append(user or Held(row.line, "missing_person", f"line {row.line}: the row names no person"))
                continue
            project = self.project(row)
            if isinstance(project, Held):
                held.append(Held(project.line, project.reason, project.detail, project.context, day_key))
                continue
            task = self.task(row, project)
            if isinstance(task, Held):
                held.append(Held(task.line, task.reason, task.detail, task.context, day_key))
                continue
            task_id, notes = task
            assert row.work_date is not None and row.duration_s is not None
            combo = (user, row.work_date, project, task_id)
            occurrences[combo] = occurrences.get(combo, 0) + 1
            key = f"{user}|{row.work_date.isoformat()}|{project}|{task_id or '-'}|{occurrences[combo]}"
            body = {
                "UserId": user,
                "ProjectId": project,
                "TaskId": task_id,
                "StartDate": self.start_utc(row.work_date, row.start_time),
                "Duration": int(row.duration_s),
                "Description": row.comment or "",
            }
            bookings.append(Booking(key, row.line, user, row.work_date, body, notes))
        return bookings, held


def key_day(key: str) -> tuple[int, date] | None:
    """The (HQ user, day) a row key belongs to."""
    parts = key.split("|")
    try:
        return int(parts[0]), date.fromisoformat(parts[1])
    except (IndexError, ValueError):
        return None
