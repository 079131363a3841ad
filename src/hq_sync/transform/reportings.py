"""awork time entries → HQ reportings (product.md A5, A8): links, start times, the plan of one entry.

Pure functions over staged data, no I/O; ``docs/awork.md`` states the rules.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hq_sync.clients.hq import same_name
from hq_sync.timeutil import parse_day, parse_time_of_day
from hq_sync.transform.plans import Decision, NotWanted, Quarantined, Wanted

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PROJECT_PATH = re.compile(rf"/projects/({_GUID})(?:/|$)")
MAX_DURATION_S = 24 * 3600  # HQ accepts 1 s .. 24 h per reporting


class InvalidLink(ValueError):
    """An "awork Link" value that names no awork project."""


def parse_awork_link(value: str | None) -> str:
    """The awork project id of an "awork Link" value, lower case.

    Accepted: the project's address ``https://<workspace>.awork.com/projects/<id>`` (any further
    path, query or fragment is ignored; the scheme may be left out) or the bare project id.
    Anything else raises ``InvalidLink`` with the reason.
    """
    text = (value or "").strip()
    if not text:
        raise InvalidLink("the awork Link is empty")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    url = text if "://" in text else f"https://{text}"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not (host == "awork.com" or host.endswith(".awork.com")):
        raise InvalidLink(
            f"{text!r} is neither an awork project address (https://<workspace>.awork.com/projects/<id>) "
            "nor a project id"
        )
    match = _PROJECT_PATH.search(parts.path)
    if match is None:
        raise InvalidLink(f"{text!r} is an awork address but names no project (expected …/projects/<id>)")
    return str(uuid.UUID(match.group(1)))


def entry_start(payload: dict[str, Any], default_zone: str) -> datetime:
    """When a time entry started, as an aware UTC datetime.

    Timed entries: ``startDateUtc`` (its date) + ``startTimeUtc``. Date-only entries (no time of
    day): midnight of ``startDateLocal`` in the entry's own zone (else the tenant's), as UTC.
    """
    start_time = payload.get("startTimeUtc")
    if start_time:
        day = parse_day(payload["startDateUtc"])
        return datetime.combine(day, parse_time_of_day(start_time), UTC)
    local = payload.get("startDateLocal") or payload.get("startDateUtc") or ""
    try:
        zone = ZoneInfo(str(payload.get("timezone") or default_zone))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(default_zone)
    return datetime.combine(parse_day(local), time(), zone).astimezone(UTC)


def hq_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_reporting(
    *,
    entry_id: str,
    payload: dict[str, Any],
    version: str | None,
    email: str | None,
    hq_users: dict[str, str],
    hq_project_id: str,
    task_sync_id: str,
    sync_start: date,
    timezone: str,
) -> Decision:
    """The HQ reporting one linked-project time entry should be (or why not)."""
    start = entry_start(payload, timezone)
    if start.astimezone(ZoneInfo(timezone)).date() < sync_start:
        return NotWanted("before_sync_start")
    duration = int(payload.get("duration") or 0)
    if duration <= 0:
        return NotWanted("timer_running")
    hours = round(duration / 3600, 2)
    if not email:
        return Quarantined(
            "unknown_email",
            f"time entry {entry_id} ({hours} h on {start.date()}): its awork user has no e-mail; "
            "no HQ user can be matched",
            {"awork_user_id": payload.get("userId"), "hours": hours, "date": start.date().isoformat()},
        )
    user = hq_users.get(email.strip().casefold())
    if user is None:
        return Quarantined(
            "unknown_email",
            f"time entry {entry_id}: {hours} h on {start.date()} by {email}, who is no HQ user (by e-mail); "
            "it is booked by the first run after the user exists in HQ",
            {"email": email, "hours": hours, "date": start.date().isoformat()},
        )
    if duration > MAX_DURATION_S:
        return Quarantined(
            "duration_over_24h",
            f"time entry {entry_id}: {hours} h in one entry; HQ takes at most 24 h per reporting",
            {"email": email, "hours": hours},
        )
    body = {
        "AworkProjectId": payload.get("projectId"),
        "UserId": int(user),
        "ProjectId": int(hq_project_id),
        "TaskSyncId": task_sync_id,
        "StartDate": hq_datetime(start),
        "Duration": duration,
        "Description": str(payload.get("note") or ""),
    }
    return Wanted(user, body, version)


@dataclass(frozen=True)
class StagedEntry:
    """A staged awork time entry with what its link says (``hq_links``)."""

    id: str
    payload: dict[str, Any]  # the awork time entry as read
    project_id: str | None
    task_id: str | None
    user_id: str | None
    deleted: bool  # awork answered 404
    booked_from: str | None  # the awork project it was booked from (the link's ``written``), if booked


def plan_time_entry(
    entry: StagedEntry,
    *,
    linked: Mapping[str, int],
    task_sync_id: Callable[[str | None, str], str],
    emails: Mapping[str, str | None],
    hq_users: dict[str, str],
    sync_start: date,
    timezone: str,
) -> Decision:
    """The HQ reporting a staged entry should be: none when deleted or not (any more) in a linked
    project (``linked``: awork project → HQ project), else ``plan_reporting``'s. ``task_sync_id``
    names the HQ task (or phase) an entry of a task in a project is booked on."""
    if entry.deleted:
        return NotWanted("deleted_in_source")
    project = entry.project_id
    if project is None or project not in linked:
        return NotWanted("project_unlinked" if entry.booked_from == project else "moved_out_of_linked_projects")
    return plan_reporting(
        entry_id=entry.id,
        payload=entry.payload,
        version=str((entry.payload or {}).get("updatedOn")),
        email=emails.get(entry.user_id or ""),
        hq_users=hq_users,
        hq_project_id=str(linked[project]),
        task_sync_id=task_sync_id(entry.task_id, project),
        sync_start=sync_start,
        timezone=timezone,
    )


@dataclass
class ProjectLinks:
    """The HQ projects' awork Links: awork project → HQ project, and the links that are not valid."""

    wanted: dict[str, int] = field(default_factory=dict)
    problems: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)


def plan_project_links(projects: Iterable[Mapping[str, Any]], link_field: str) -> ProjectLinks:
    """Which awork project each HQ project's "awork Link" names (product.md A3). An invalid value and
    a second link to the same awork project are problems (``invalid_awork_link``,
    ``duplicate_awork_link``): by HQ project id, the first link to an awork project wins."""
    links = ProjectLinks()
    for project in sorted(projects, key=lambda p: int(p["Id"])):
        hq_id = int(project["Id"])
        fields = project.get("CustomFields") or []
        value = next((f.get("Value") for f in fields if same_name(f.get("Name"), link_field)), None)
        where = f"HQ project {project.get('Number') or ''} {project.get('Name')!r} (Id {hq_id})".replace("  ", " ")
        try:
            awork_id = parse_awork_link(value)
        except InvalidLink as exc:
            detail = f"{where}: {exc}; its times are not synced"
            links.problems[(str(hq_id), "invalid_awork_link")] = (detail, {"value": value})
            continue
        if awork_id in links.wanted:
            first = links.wanted[awork_id]
            links.problems[(str(hq_id), "duplicate_awork_link")] = (
                f"{where}: awork project {awork_id} is already linked to HQ project {first}; "
                "only that one gets its times",
                {"value": value, "awork_project_id": awork_id, "linked_to": first},
            )
            continue
        links.wanted[awork_id] = hq_id
    return links
