"""What both audits need from staging: when a source last synced, whether staging is fresh, the
open quarantine, and names for HQ's ``CreatedBy``/``UpdatedBy``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from hq_sync.audit.model import SourceRead
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import quarantine, run_summaries
from hq_sync.timeutil import parse_timestamp


def last_synced_at(conn: Connection, tenant: str, source: str) -> datetime | None:
    """When a run of ``source`` last completed (its report step ran, so its load did): or None."""
    return conn.execute(
        select(func.max(run_summaries.c.recorded_at)).where(
            run_summaries.c.tenant == tenant, run_summaries.c.source == source
        )
    ).scalar_one_or_none()


def staging_is_fresh(conn: Connection, tenant: str, source: str, now: datetime, max_age: timedelta) -> tuple[bool, str]:
    """Whether staging can stand in for ``source``: its last completed run and its last full
    reconcile (deletions of old records) are both younger than ``max_age``. Returns (fresh, why)."""
    synced = last_synced_at(conn, tenant, source)
    full = parse_timestamp(repo.get_cursor(conn, tenant, source, "full_reconcile"))
    if synced is None:
        return False, f"no {source} run has completed yet"
    if now - synced > max_age:
        return False, f"the last completed {source} run is {_age(now - synced)} old (more than {_age(max_age)})"
    if full is None or now - full > max_age:
        return False, f"the last full {source} reconcile is {'missing' if full is None else _age(now - full) + ' old'}"
    return True, f"last completed run {_age(now - synced)} ago, last full reconcile {_age(now - full)} ago"


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def open_items(conn: Connection, tenant: str, source: str, entity: str) -> dict[str, list[dict[str, Any]]]:
    """Open quarantine items of one source entity, by source id."""
    q = quarantine
    items: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
        select(q.c.source_id, q.c.reason, q.c.detail).where(
            q.c.tenant == tenant, q.c.source == source, q.c.entity == entity, q.c.resolved_at.is_(None)
        )
    ):
        items.setdefault(row.source_id, []).append({"reason": row.reason, "detail": row.detail})
    return items


def who(user_id: Any, emails: dict[int, str]) -> str | None:
    """A person for HQ's CreatedBy/UpdatedBy: the user's e-mail, or what the id means."""
    if user_id is None:
        return None
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return str(user_id)
    if uid in emails:
        return emails[uid]
    if uid == 0:
        return "an API client without user (id 0)"
    return f"HQ user id {uid}"


def hq_emails(hq_users: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """HQ user id → case-folded work e-mail ("" without one)."""
    return {int(u["Id"]): str(u.get("EMailWork") or "").strip().casefold() for u in hq_users}


@dataclass
class StagingView:
    """What staging says about one source entity before an audit reads it."""

    source: str
    fresh: bool  # staging can stand in for the source (``staging_is_fresh``)
    why: str
    synced_at: datetime | None  # the source's last completed run
    items: dict[str, list[dict[str, Any]]]  # open quarantine items by source id

    def source_read(self) -> SourceRead:
        """How the audit reads the source: from staging when fresh, else from the source itself."""
        return SourceRead(self.source, "staging" if self.fresh else "source", self.why, last_synced_at=self.synced_at)


def staging_view(
    conn: Connection, tenant: str, source: str, entity: str, now: datetime, max_age: timedelta
) -> StagingView:
    fresh, why = staging_is_fresh(conn, tenant, source, now, max_age)
    synced_at = last_synced_at(conn, tenant, source)
    return StagingView(source, fresh, why, synced_at, open_items(conn, tenant, source, entity))
