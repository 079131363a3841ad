"""awork time entries → HQ reportings (product.md A5, A8): links, start times, the plan of one entry.

Pure functions over staged data, no I/O; ``docs/awork.md`` states the rules.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        raise InvalidLink(f"{text!r} is neither an awork project address (https://<workspace>.awork.com/projects/<id>) nor a project id")
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
        day = date.fromisoformat(str(payload["startDateUtc"])[:10])
        return datetime.combine(day, time.fromisoformat(str(start_time)[:8]), UTC)
    local = str(payload.get("startDateLocal") or payload.get("startDateUtc") or "")[:10]
    try:
        zone = ZoneInfo(str(payload.get("timezone") or default_zone))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(default_zone)
    return datetime.combine(date.fromisoformat(local), time(), zone).astimezone(UTC)


def hq_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Wanted:
    hq_user_id: str
    body: dict[str, Any]  # UserId, ProjectId, TaskSyncId, StartDate, Duration, Description
    version: str | None


@dataclass(frozen=True)
class NotWanted:
    reason: str


@dataclass(frozen=True)
class Quarantined:
    reason: str
    detail: str
    context: dict[str, Any] = field(default_factory=dict)


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
) -> Wanted | NotWanted | Quarantined:
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
