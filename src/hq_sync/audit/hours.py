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

from hq_sync.audit.common import hq_emails, staging_view, who
from hq_sync.audit.explain import explain
from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair, SourceRead, Window, month_of
from hq_sync.clients.awork import user_email
from hq_sync.clients.hq import odata_literal
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.schema import awork_time_entries
from hq_sync.staging.states import LinkState
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.reportings import entry_start

SOURCE = "awork"
MAX_LOOKUPS = 200  # single GETs per audit for owned reportings not in the window's read


def same_as_written(rep: dict[str, Any], link: repo.Link) -> bool:
    """Whether HQ's reporting still is what the sync wrote: person, project, start, duration."""
    body = (link.written or {}).get("body") or {}
    return (
        int(rep.get("UserId") or 0) == int(body.get("UserId") or 0)
        and int(rep.get("ProjectId") or 0) == int(body.get("ProjectId") or 0)
        and parse_timestamp(rep.get("StartOn")) == parse_timestamp(body.get("StartDate"))
        and int(rep.get("Duration") or 0) == int(body.get("Duration") or 0)
    )


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
            id=str(item["id"]),
            email=emails.get(uid),
            awork_project=item.get("projectId"),
            start=entry_start(item, tz),
            seconds=int(item.get("duration") or 0),
            updated_at=parse_timestamp(item.get("updatedOn")),
        )
    return out


def _window_utc(window: Window, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (
        datetime.combine(window.start, time(), zone).astimezone(UTC),
        datetime.combine(window.end + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def compare_hours(
    ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]], max_age: timedelta
) -> tuple[list[Pair], SourceRead]:
    """The pairs of the hours audit (differing pairs explained) and how awork was read."""
    audit = _HoursAudit(ctx, window, hq, hq_users)
    audit.read_awork(max_age)
    audit.read_hq()
    pairs: list[Pair] = []
    paired_hq: set[str] = set()
    for entry_id, e in sorted(audit.in_scope.items()):
        pairs.append(audit.entry_pair(entry_id, e, paired_hq))
    orphans = {rep_id: rep for rep_id, rep in audit.reportings.items() if rep_id not in paired_hq}
    audit.stage_missing(orphans)
    for rep_id, rep in sorted(orphans.items()):
        pair = audit.orphan_pair(rep_id, rep)
        if pair is not None:
            pairs.append(pair)
    return pairs, audit.read


def _staged_entry(r: Any, email: str | None, tz: str) -> Entry:
    return Entry(
        r.source_id,
        email,
        r.project_id,
        entry_start(r.payload or {}, tz),
        int(r.duration_s or 0),
        r.source_updated_at,
        r.deleted_at is not None,
        r.deleted_at,
    )


class _HoursAudit:
    """One hours audit: what awork (staging or the API) and HQ hold, and how they pair up."""

    def __init__(self, ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]]) -> None:
        self.ctx, self.window, self.hq = ctx, window, hq
        self.tenant, self.tz = ctx.tenant.id, ctx.tenant.timezone
        self.zone = ZoneInfo(self.tz)
        cfg = ctx.tenant.sources.awork
        assert cfg is not None
        self.cfg = cfg
        self.emails_by_hq = hq_emails(hq_users)
        self.lookups = 0

    # -- reading --------------------------------------------------------------------------------

    def read_awork(self, max_age: timedelta) -> None:
        """Staging's view of the linked projects' entries, and awork's own when staging is not fresh enough."""
        tenant = self.tenant
        with self.ctx.staging.connect() as conn:
            view = staging_view(conn, tenant, SOURCE, "time_entry", self.ctx.now, max_age)
            self.linked = queries.awork_linked_projects(conn, tenant)
            self.entry_links = {link.source_id: link for link in repo.links(conn, tenant, SOURCE, "time_entry")}
            self.sheet_links = {
                str(link.hq_id): link for link in repo.links(conn, tenant, "timesheets", "timesheet_row") if link.hq_id
            }
            self.staged = self._staged_entries(conn)
        self.synced_at, self.items, self.fresh = view.synced_at, view.items, view.fresh
        self.read = view.source_read()
        if self.fresh:
            self.entries = {k: e for k, e in self.staged.items() if not e.deleted}
        else:
            self._read_source()
        window, start = self.window, self.cfg.sync_start_date
        self.in_scope = {
            k: e
            for k, e in self.entries.items()
            if e.awork_project in self.linked
            and e.seconds > 0
            and window.contains(self.local_day(e.start))
            and self.local_day(e.start) >= start
        }
        self.read.records = len(self.in_scope)

    def _staged_entries(self, conn: Any) -> dict[str, Entry]:
        staged_emails = queries.awork_user_emails(conn, self.tenant)
        t = awork_time_entries
        staged = {}
        for r in conn.execute(
            select(t).where(
                t.c.tenant == self.tenant,
                t.c.start_date >= self.window.start - timedelta(days=1),
                t.c.start_date <= self.window.end + timedelta(days=1),
            )
        ):
            staged[r.source_id] = _staged_entry(r, staged_emails.get(r.user_id), self.tz)
        return staged

    def _read_source(self) -> None:
        client = self.ctx.require_clients().awork()
        before = client.requests_sent
        emails = {str(u["id"]): user_email(u) for page in client.users(show_archived=True) for u in page}
        self.entries = {}
        between = (self.window.start - timedelta(days=1), self.window.end + timedelta(days=1))
        for awork_id in sorted(self.linked):
            pages = client.time_entries(between=between, project_id=awork_id)
            self.entries.update(_entries_from_payloads((i for page in pages for i in page), emails, self.tz))
        self.read.requests = client.requests_sent - before

    def read_hq(self) -> None:
        """HQ: every reporting in the window (one paged read), ours or not."""
        first, last = _window_utc(self.window, self.tz)
        self.first = first
        self.hq_projects = {int(p["Id"]): str(p.get("Name") or p["Id"]) for p in self.hq.projects()}
        self.reportings: dict[str, dict[str, Any]] = {
            str(r["Id"]): r
            for r in self.hq.all(
                "UserReportings", filter=f"StartOn ge {odata_literal(first)} and StartOn lt {odata_literal(last)}"
            )
        }
        self.linked_hq = set(self.linked.values())
        self.owned = {
            str(link.hq_id): link
            for link in self.entry_links.values()
            if link.hq_id and link.state in (LinkState.SYNCED, LinkState.PENDING)
        }

    def stage_missing(self, orphans: dict[str, dict[str, Any]]) -> None:
        """Staging's copy of owned entries outside the window's read (to say what became of them)."""
        owned = self.owned
        missing = [owned[r].source_id for r in orphans if r in owned and owned[r].source_id not in self.staged]
        if not missing:
            return
        with self.ctx.staging.connect() as conn:
            t = awork_time_entries
            for r in conn.execute(select(t).where(t.c.tenant == self.tenant, t.c.source_id.in_(missing))):
                self.staged[r.source_id] = _staged_entry(r, None, self.tz)

    # -- sides ----------------------------------------------------------------------------------

    def local_day(self, start: datetime) -> Any:
        return start.astimezone(self.zone).date()

    def cell(self, email: str | None, project: int, start: datetime) -> Cell:
        person = (email or "").strip().casefold() or "(no e-mail)"
        name = self.hq_projects.get(project, f"HQ project {project}")
        return Cell(AuditKind.HOURS, person, str(project), name, month_of(self.local_day(start)))

    def hq_side(self, rep: dict[str, Any]) -> dict[Cell, float]:
        start = parse_timestamp(rep.get("StartOn")) or self.first
        c = self.cell(self.emails_by_hq.get(int(rep.get("UserId") or 0)), int(rep.get("ProjectId") or 0), start)
        return {c: round(int(rep.get("Duration") or 0) / 3600, 4)}

    def written_side(self, link: repo.Link) -> dict[Cell, float]:
        body = (link.written or {}).get("body") or {}
        if not body:
            return {}
        start = parse_timestamp(body.get("StartDate")) or self.first
        email = self.emails_by_hq.get(int(body.get("UserId") or 0))
        return {
            self.cell(email, int(body.get("ProjectId") or 0), start): round(int(body.get("Duration") or 0) / 3600, 4)
        }

    def find(self, link: repo.Link | None) -> dict[str, Any] | None:
        """The HQ reporting a link owns: from the window's read, else one GET (it may lie outside)."""
        if link is None or not link.hq_id:
            return None
        rep = self.reportings.get(str(link.hq_id))
        if rep is None and link.state == LinkState.SYNCED and link.hq_parent_id and self.lookups < MAX_LOOKUPS:
            self.lookups += 1
            rep = self.hq.reporting(link.hq_parent_id, link.hq_id)
        return rep

    # -- pairs ----------------------------------------------------------------------------------

    def entry_pair(self, entry_id: str, e: Entry, paired_hq: set[str]) -> Pair:
        """The pair of one awork entry in scope, explained when it differs."""
        link = self.entry_links.get(entry_id)
        rep = self.find(link)
        pair = Pair(AuditKind.HOURS, entry_id, str(rep["Id"]) if rep else (link.hq_id if link else None))
        pair.source = {self.cell(e.email, self.linked[str(e.awork_project)], e.start): round(e.seconds / 3600, 4)}
        if rep is not None:
            pair.hq = self.hq_side(rep)
            paired_hq.add(str(rep["Id"]))
        if link is not None and link.state == LinkState.SYNCED and link.hq_id:
            pair.record_changed = rep is None or not same_as_written(rep, link)
        if pair.differs():
            known = self.staged.get(entry_id)
            state = "present" if known is not None else "unseen"
            changed = e.updated_at if known is not None else None
            written = self.written_side(link) if link else {}
            explain(
                pair,
                link,
                rep,
                written,
                self.items,
                self.synced_at,
                self.emails_by_hq,
                state,
                changed,
                "awork time entry",
            )
        return pair

    def orphan_pair(self, rep_id: str, rep: dict[str, Any]) -> Pair | None:
        """The pair of an HQ reporting no entry in scope paired with (None: another project's)."""
        link = self.owned.get(rep_id)
        if link is None and int(rep.get("ProjectId") or 0) not in self.linked_hq:
            return None  # another project: not audited
        pair = Pair(AuditKind.HOURS, link.source_id if link else None, rep_id, hq=self.hq_side(rep))
        pair.record_changed = link is not None and link.state == LinkState.SYNCED and not same_as_written(rep, link)
        if link is None:
            self._explain_others(pair, rep_id, rep)
            return pair
        state, changed = self._entry_state(link.source_id)
        written = self.written_side(link)
        explain(
            pair, link, rep, written, self.items, self.synced_at, self.emails_by_hq, state, changed, "awork time entry"
        )
        return pair

    def _explain_others(self, pair: Pair, rep_id: str, rep: dict[str, Any]) -> None:
        """A reporting the awork sync did not write: a timesheet import's, or someone's in HQ."""
        sheet = self.sheet_links.get(rep_id)
        if sheet is not None:
            origin = (sheet.written or {}).get("origin") or {}
            pair.explain(
                Explanation.WRITTEN_BY_OTHERS,
                "timesheet_import",
                f"HQ reporting {rep_id} was imported from timesheet {origin.get('file')!r}, line {origin.get('line')}",
                "hq-sync timesheet import",
            )
            return
        creator = who(rep.get("CreatedBy"), self.emails_by_hq)
        pair.explain(
            Explanation.WRITTEN_BY_OTHERS,
            "not_from_awork",
            f"HQ reporting {rep_id} was not written by the awork sync (created by {creator} on "
            f"{str(rep.get('CreatedOn') or '?')[:10]})",
            creator,
        )

    def _entry_state(self, source_id: str) -> tuple[str, datetime | None]:
        """What the sync knows of an entry: unseen, deleted, gone (unconfirmed) or present, and since when."""
        known = self.staged.get(source_id)
        listed = self.entries.get(source_id)
        if known is None:
            return "unseen", None
        if known.deleted:
            return "deleted", known.deleted_at
        if not self.fresh and listed is None:
            return "gone_unconfirmed", None
        return "present", (listed or known).updated_at
