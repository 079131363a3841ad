"""Hours per person, project and month: awork time entries vs HQ reportings (docs/audit.md).

Scope: the awork projects linked at the last awork run (``hq_links`` entity ``project``) and their
HQ projects. The awork side is the staging copy when it is fresh, else the entries read from awork
(through the tenant's client and its request budget). The HQ side is one paged read of the
reportings in the window; each is ours (an awork link owns it), a timesheet import's, or someone
else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hq_sync.audit.common import last_synced_at, open_items, staging_is_fresh, who
from hq_sync.audit.explain import explain
from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair, SourceRead, Window, month_of
from hq_sync.clients.awork import user_email
from hq_sync.clients.hq import odata_literal
from hq_sync.pipelines.context import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import awork_time_entries, awork_users
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.reportings import entry_start

SOURCE = "awork"
MAX_LOOKUPS = 200  # single GETs per audit for owned reportings not in the window's read


def same_as_written(rep: dict[str, Any], link: repo.Link) -> bool:
    """Whether HQ's reporting still is what the sync wrote: person, project, start, duration."""
    body = (link.written or {}).get("body") or {}
    return (int(rep.get("UserId") or 0) == int(body.get("UserId") or 0)
            and int(rep.get("ProjectId") or 0) == int(body.get("ProjectId") or 0)
            and parse_timestamp(rep.get("StartOn")) == parse_timestamp(body.get("StartDate"))
            and int(rep.get("Duration") or 0) == int(body.get("Duration") or 0))


@dataclass
class Entry:
    id: str
    email: str | None
    awork_project: str | None
    start: datetime  # UTC
    seconds: int
    updated_at: datetime | None
    deleted: bool = False
    deleted_at: datetime | None = None


def _entries_from_payloads(items: Iterable[dict[str, Any]], emails: dict[str, str | None], tz: str) -> dict[str, Entry]:
    out = {}
    for item in items:
        uid = str(item.get("userId") or "")
        out[str(item["id"])] = Entry(
            id=str(item["id"]), email=emails.get(uid), awork_project=item.get("projectId"),
            start=entry_start(item, tz), seconds=int(item.get("duration") or 0),
            updated_at=parse_timestamp(item.get("updatedOn")))
    return out


def _window_utc(window: Window, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(window.start, time(), zone).astimezone(UTC),
            datetime.combine(window.end + timedelta(days=1), time(), zone).astimezone(UTC))


def compare_hours(ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]], max_age: timedelta) -> tuple[list[Pair], SourceRead]:
    """The pairs of the hours audit (differing pairs explained) and how awork was read."""
    tenant, tz = ctx.tenant.id, ctx.tenant.timezone
    zone = ZoneInfo(tz)
    cfg = ctx.tenant.sources.awork
    assert cfg is not None
    emails_by_hq = {int(u["Id"]): str(u.get("EMailWork") or "").strip().casefold() for u in hq_users}
    with ctx.staging.connect() as conn:
        fresh, why = staging_is_fresh(conn, tenant, SOURCE, ctx.now, max_age)
        synced_at = last_synced_at(conn, tenant, SOURCE)
        linked = {l.source_id: int(l.hq_id) for l in repo.links(conn, tenant, SOURCE, "project", state="synced") if l.hq_id}
        entry_links = {l.source_id: l for l in repo.links(conn, tenant, SOURCE, "time_entry")}
        sheet_links = {str(l.hq_id): l for l in repo.links(conn, tenant, "timesheets", "timesheet_row") if l.hq_id}
        items = open_items(conn, tenant, SOURCE, "time_entry")
        staged_emails = {r.source_id: r.email for r in conn.execute(
            select(awork_users.c.source_id, awork_users.c.email).where(awork_users.c.tenant == tenant))}
        t = awork_time_entries
        staged = {}
        for r in conn.execute(select(t).where(
                t.c.tenant == tenant, t.c.start_date >= window.start - timedelta(days=1),
                t.c.start_date <= window.end + timedelta(days=1))):
            staged[r.source_id] = Entry(r.source_id, staged_emails.get(r.user_id), r.project_id,
                                        entry_start(r.payload or {}, tz), int(r.duration_s or 0),
                                        r.source_updated_at, r.deleted_at is not None, r.deleted_at)
    read = SourceRead(SOURCE, "staging" if fresh else "source", why, last_synced_at=synced_at)
    if fresh:
        entries = {k: e for k, e in staged.items() if not e.deleted}
    else:
        client = ctx.require_clients().awork()
        before = client.requests_sent
        emails = {str(u["id"]): user_email(u) for page in client.users(show_archived=True) for u in page}
        entries = {}
        for awork_id in sorted(linked):
            pages = client.time_entries(between=(window.start - timedelta(days=1), window.end + timedelta(days=1)), project_id=awork_id)
            entries.update(_entries_from_payloads((i for page in pages for i in page), emails, tz))
        read.requests = client.requests_sent - before

    def local_day(start: datetime) -> Any:
        return start.astimezone(zone).date()

    in_scope = {k: e for k, e in entries.items()
                if e.awork_project in linked and e.seconds > 0 and window.contains(local_day(e.start))
                and local_day(e.start) >= cfg.sync_start_date}
    read.records = len(in_scope)

    # HQ: every reporting in the window (one paged read), ours or not.
    first, last = _window_utc(window, tz)
    hq_projects = {int(p["Id"]): str(p.get("Name") or p["Id"]) for p in hq.projects()}
    reportings = {str(r["Id"]): r for r in hq.all(
        "UserReportings", filter=f"StartOn ge {odata_literal(first)} and StartOn lt {odata_literal(last)}")}
    linked_hq = set(linked.values())
    owned = {str(l.hq_id): l for l in entry_links.values() if l.hq_id and l.state in ("synced", "pending")}

    def cell(email: str | None, project: int, start: datetime) -> Cell:
        person = (email or "").strip().casefold() or "(no e-mail)"
        return Cell(AuditKind.HOURS, person, str(project), hq_projects.get(project, f"HQ project {project}"), month_of(local_day(start)))

    def hq_side(rep: dict[str, Any]) -> dict[Cell, float]:
        start = parse_timestamp(rep.get("StartOn")) or first
        c = cell(emails_by_hq.get(int(rep.get("UserId") or 0)), int(rep.get("ProjectId") or 0), start)
        return {c: round(int(rep.get("Duration") or 0) / 3600, 4)}

    def written_side(link: repo.Link) -> dict[Cell, float]:
        body = (link.written or {}).get("body") or {}
        if not body:
            return {}
        start = parse_timestamp(body.get("StartDate")) or first
        return {cell(emails_by_hq.get(int(body.get("UserId") or 0)), int(body.get("ProjectId") or 0), start):
                round(int(body.get("Duration") or 0) / 3600, 4)}

    pairs: list[Pair] = []
    paired_hq: set[str] = set()
    lookups = [0]

    def find(link: repo.Link | None) -> dict[str, Any] | None:
        """The HQ reporting a link owns: from the window's read, else one GET (it may lie outside)."""
        if link is None or not link.hq_id:
            return None
        rep = reportings.get(str(link.hq_id))
        if rep is None and link.state == "synced" and link.hq_parent_id and lookups[0] < MAX_LOOKUPS:
            lookups[0] += 1
            rep = hq.reporting(link.hq_parent_id, link.hq_id)
        return rep

    for entry_id, e in sorted(in_scope.items()):
        link = entry_links.get(entry_id)
        rep = find(link)
        pair = Pair(AuditKind.HOURS, entry_id, str(rep["Id"]) if rep else (link.hq_id if link else None))
        pair.source = {cell(e.email, linked[str(e.awork_project)], e.start): round(e.seconds / 3600, 4)}
        if rep is not None:
            pair.hq = hq_side(rep)
            paired_hq.add(str(rep["Id"]))
        if link is not None and link.state == "synced" and link.hq_id:
            pair.record_changed = rep is None or not same_as_written(rep, link)
        pairs.append(pair)
        if pair.differs():
            known = staged.get(entry_id)
            state = "present" if known is not None else "unseen"
            changed = e.updated_at if known is not None else None
            explain(pair, link, rep, written_side(link) if link else {}, items, synced_at, emails_by_hq, state, changed, "awork time entry")
    orphans = {rep_id: rep for rep_id, rep in reportings.items() if rep_id not in paired_hq}
    missing = [owned[r].source_id for r in orphans if r in owned and owned[r].source_id not in staged]
    if missing:
        with ctx.staging.connect() as conn:
            t = awork_time_entries
            for r in conn.execute(select(t).where(t.c.tenant == tenant, t.c.source_id.in_(missing))):
                staged[r.source_id] = Entry(r.source_id, None, r.project_id, entry_start(r.payload or {}, tz),
                                            int(r.duration_s or 0), r.source_updated_at, r.deleted_at is not None, r.deleted_at)
    for rep_id, rep in sorted(orphans.items()):
        link = owned.get(rep_id)
        if link is None and int(rep.get("ProjectId") or 0) not in linked_hq:
            continue  # another project: not audited
        pair = Pair(AuditKind.HOURS, link.source_id if link else None, rep_id, hq=hq_side(rep))
        pair.record_changed = link is not None and link.state == "synced" and not same_as_written(rep, link)
        pairs.append(pair)
        if link is None:
            sheet = sheet_links.get(rep_id)
            if sheet is not None:
                origin = (sheet.written or {}).get("origin") or {}
                pair.explain(Explanation.WRITTEN_BY_OTHERS, "timesheet_import",
                             f"HQ reporting {rep_id} was imported from timesheet {origin.get('file')!r}, line {origin.get('line')}",
                             "hq-sync timesheet import")
            else:
                creator = who(rep.get("CreatedBy"), emails_by_hq)
                pair.explain(Explanation.WRITTEN_BY_OTHERS, "not_from_awork",
                             f"HQ reporting {rep_id} was not written by the awork sync (created by {creator} on "
                             f"{str(rep.get('CreatedOn') or '?')[:10]})", creator)
            continue
        known = staged.get(link.source_id)
        listed = entries.get(link.source_id)
        if known is None:
            state, changed = "unseen", None
        elif known.deleted:
            state, changed = "deleted", known.deleted_at
        elif not fresh and listed is None:
            state, changed = "gone_unconfirmed", None
        else:
            state, changed = "present", (listed or known).updated_at
        explain(pair, link, rep, written_side(link), items, synced_at, emails_by_hq, state, changed, "awork time entry")
    return pairs, read
