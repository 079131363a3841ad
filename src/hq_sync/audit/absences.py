"""Absence days per person, HQ type and month: Personio absence periods vs HQ absences (docs/audit.md).

The Personio side is what each period should be in HQ under the tenant's current rules (the
sync's own pure transform, ``plan_absence``), counted in days: weekdays Monday–Friday in half-day
steps (HQ's "MissedDays" rule, public holidays not counted); hour-based types count their hours / 8
in the month they start. Quarantined periods count too (their days are what HQ lacks). The HQ side
is every absence of every HQ user overlapping the window (one read per user).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hq_sync.audit.common import hq_emails, staging_view, who
from hq_sync.audit.explain import explain
from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair, SourceRead, Window, month_of
from hq_sync.load.absences import same_absence
from hq_sync.mappings import build_mapping
from hq_sync.mappings.absence_types import load_catalogue
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.schema import personio_absence_periods
from hq_sync.staging.states import LinkState
from hq_sync.timeutil import parse_day, parse_hq_datetime
from hq_sync.transform.absences import AbsenceRules, StagedPeriod, plan_absence
from hq_sync.transform.plans import Quarantined, Wanted
from hq_sync.transform.source_rows import personio_period_row as period_row
from hq_sync.transform.source_rows import personio_person_row as person_row
from hq_sync.transform.source_rows import personio_type_row as type_row

SOURCE = "personio"
MAX_LOOKUPS = 200  # single GETs per audit for owned absences not in the window's read
HALF_DAY = timedelta(hours=12)


@dataclass
class Period:
    id: str
    payload: dict[str, Any]
    updated_at: datetime | None
    deleted_at: datetime | None = None


def absence_days(type_enum: str, start: Any, end: Any, window: Window, tz: str) -> dict[str, float]:
    """Days per month of one HQ-encoded absence, within the window (see the module docstring)."""
    hq_type = next((t for t in load_catalogue() if t.enum == type_enum), None)
    s, e = parse_hq_datetime(start), parse_hq_datetime(end)
    if hq_type is not None and hq_type.hour_based:
        s = s.replace(tzinfo=UTC) if s.tzinfo is None else s
        e = e.replace(tzinfo=UTC) if e.tzinfo is None else e
        day = s.astimezone(ZoneInfo(tz)).date()
        return {month_of(day): round((e - s).total_seconds() / 3600 / 8, 4)} if window.contains(day) and e > s else {}
    s, e = s.replace(tzinfo=None), e.replace(tzinfo=None)
    out: dict[str, float] = {}
    cursor = max(s, datetime.combine(window.start, time()))
    if cursor.time() not in (time(), time(12)):
        cursor = datetime.combine(cursor.date(), time())
    stop = min(e, datetime.combine(window.end + timedelta(days=1), time()))
    while cursor < stop:
        if cursor.weekday() < 5:
            key = month_of(cursor.date())
            out[key] = out.get(key, 0.0) + 0.5
        cursor += HALF_DAY
    return out


def compare_absences(
    ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]], max_age: timedelta
) -> tuple[list[Pair], SourceRead]:
    """The pairs of the absence audit (differing pairs explained) and how Personio was read."""
    audit = _AbsenceAudit(ctx, window, hq, hq_users)
    audit.read_personio(max_age)
    audit.read_hq(hq_users)
    pairs: list[Pair] = []
    paired: set[str] = set()
    audit.read.records = 0
    for pid, p in sorted(audit.periods.items()):
        pair = audit.period_pair(pid, p, paired)
        if pair is not None:
            pairs.append(pair)
    owned = audit.owned()
    for absence_id, (absence, email) in sorted(audit.hq_absences.items()):
        if absence_id not in paired:
            pair = audit.hq_only_pair(absence_id, absence, email, owned)
            if pair is not None:
                pairs.append(pair)
    return pairs, audit.read


class _AbsenceAudit:
    """One absence audit: what Personio (staging or the API) and HQ hold, and how they pair up."""

    def __init__(self, ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]]) -> None:
        self.ctx, self.window, self.hq = ctx, window, hq
        self.tenant, self.tz = ctx.tenant.id, ctx.tenant.timezone
        cfg = ctx.tenant.sources.personio
        assert cfg is not None
        self.cfg = cfg
        self.labels = {t.enum: t.label for t in load_catalogue()}
        self.emails_by_hq = hq_emails(hq_users)
        self.hq_by_email = {e: str(i) for i, e in self.emails_by_hq.items() if e}
        self.hq_absences: dict[str, tuple[dict[str, Any], str]] = {}
        self.lookups = 0

    # -- reading --------------------------------------------------------------------------------

    def read_personio(self, max_age: timedelta) -> None:
        """Staging's view of the window, and Personio's own when staging is not fresh enough."""
        tenant = self.tenant
        with self.ctx.staging.connect() as conn:
            view = staging_view(conn, tenant, SOURCE, "absence_period", self.ctx.now, max_age)
            self.links = {link.source_id: link for link in repo.links(conn, tenant, SOURCE, "absence_period")}
            self.persons = queries.personio_person_emails(conn, tenant)
            self.types = queries.personio_absence_type_info(conn, tenant)
            self.staged = self._staged_periods(conn)
        self.synced_at, self.items, self.fresh = view.synced_at, view.items, view.fresh
        self.read = view.source_read()
        if self.fresh:
            self.periods = {k: p for k, p in self.staged.items() if p.deleted_at is None}
        else:
            self._read_source()
        cfg = self.cfg
        self.rules = AbsenceRules(
            mapping=build_mapping(cfg.absence_type_mapping),
            sync_start=cfg.sync_start_date,
            timezone=self.tz,
            day_end=cfg.day_end,
            open_ended_months=cfg.open_ended_months,
        )

    def _staged_periods(self, conn: Any) -> dict[str, Period]:
        first, last = self.window.start.isoformat(), self.window.end.isoformat()
        t = personio_absence_periods
        return {
            r.source_id: Period(r.source_id, r.payload, r.source_updated_at, r.deleted_at)
            for r in conn.execute(
                select(t).where(
                    t.c.tenant == self.tenant,
                    t.c.starts_at <= f"{last}T23:59:59",
                    (t.c.ends_at.is_(None)) | (t.c.ends_at >= f"{first}T00:00:00"),
                )
            )
        }

    def _read_source(self) -> None:
        client = self.ctx.require_clients().personio()
        before = client.requests_sent
        self.persons = {r["source_id"]: r["email"] for page in client.persons() for r in map(person_row, page)}
        self.types = {
            r["source_id"]: {"name": r["name"], "category": r["category"], "unit": r["unit"]}
            for page in client.absence_types()
            for r in map(type_row, page)
        }
        self.periods = {}
        for page in client.absence_periods(overlapping=(self.window.start, self.window.end)):
            for item in page:
                row = period_row(item)
                self.periods[row["source_id"]] = Period(row["source_id"], item, row["source_updated_at"])
        self.read.requests = client.requests_sent - before

    def read_hq(self, hq_users: list[dict[str, Any]]) -> None:
        window = self.window
        for u in hq_users:
            for absence in self.hq.absences(u["Id"], start=window.start, end=window.end + timedelta(days=1)):
                self.hq_absences[str(absence["Id"])] = (absence, self.emails_by_hq.get(int(u["Id"])) or "")

    # -- sides ----------------------------------------------------------------------------------

    def cells(self, email: str | None, type_enum: str, label: str, start: Any, end: Any) -> dict[Cell, float]:
        person = (email or "").strip().casefold() or "(no e-mail)"
        return {
            Cell(AuditKind.ABSENCE_DAYS, person, type_enum, label, m): q
            for m, q in absence_days(type_enum, start, end, self.window, self.tz).items()
            if q
        }

    def _body_cells(self, email: str | None, body: dict[str, Any]) -> dict[Cell, float]:
        return self.cells(email, body["Type"], self.labels.get(body["Type"], body["Type"]), body["Start"], body["End"])

    def source_side(self, p: Period) -> tuple[dict[Cell, float], str | None]:
        """What HQ should hold for the period (days), and its plan version (None: not wanted)."""
        staged_period = StagedPeriod(p.id, p.payload, p.updated_at)
        plan = plan_absence(
            staged_period,
            persons=self.persons,
            types=self.types,
            hq_users=self.hq_by_email,
            rules=self.rules,
            today=self.ctx.today,
        )
        if isinstance(plan, Quarantined) and plan.reason in ("unknown_email", "unknown_person"):
            stand_in = self._as_stand_in(staged_period, p)
            if stand_in is not None:
                return stand_in
        if isinstance(plan, Wanted):
            email = next((e for e, i in self.hq_by_email.items() if i == plan.hq_user_id), None)
            return self._body_cells(email, plan.body), plan.version
        if isinstance(plan, Quarantined):  # no HQ type to speak of: count the raw days
            return self._raw_days(p), None
        return {}, None

    def _as_stand_in(self, staged_period: StagedPeriod, p: Period) -> tuple[dict[Cell, float], str | None] | None:
        """The plan of a period whose person HQ does not know, as if a stand-in user existed."""
        pid = str((p.payload.get("person") or {}).get("id") or "")
        stand_in = self.persons.get(pid) or f"personio-person-{pid}"
        plan_as = plan_absence(
            staged_period,
            persons={**self.persons, pid: stand_in},
            types=self.types,
            hq_users={**self.hq_by_email, stand_in.strip().casefold(): "0"},
            rules=self.rules,
            today=self.ctx.today,
        )
        if isinstance(plan_as, Wanted):
            return self._body_cells(stand_in, plan_as.body), plan_as.version
        return None

    def _raw_days(self, p: Period) -> dict[Cell, float]:
        """The days of a period without an HQ type, under its Personio type name."""
        starts = str((p.payload.get("starts_from") or {}).get("date_time") or "")[:10]
        ends = str(((p.payload.get("ends_at") or {}) or {}).get("date_time") or starts)[:10]
        type_id = str((p.payload.get("absence_type") or {}).get("id") or "")
        name = str((self.types.get(type_id) or {}).get("name") or type_id)
        pid = str((p.payload.get("person") or {}).get("id") or "")
        try:
            start_day, end_day = parse_day(starts), parse_day(ends)
        except ValueError:
            return {}
        exclusive = self.cfg.day_end == "exclusive" and end_day > start_day
        end_exclusive = end_day if exclusive else end_day + timedelta(days=1)
        return self.cells(
            self.persons.get(pid),
            f"personio:{name}"[:64],
            f"{name} (Personio, not mapped)",
            f"{start_day}T00:00:00",
            f"{end_exclusive}T00:00:00",
        )

    def hq_side(self, absence: dict[str, Any], email: str) -> dict[Cell, float]:
        t_enum = str(absence.get("Type"))
        return self.cells(email, t_enum, self.labels.get(t_enum, t_enum), absence.get("Start"), absence.get("End"))

    def written_side(self, link: repo.Link | None) -> dict[Cell, float]:
        body = ((link.written or {}).get("body") if link else None) or {}
        if not body or link is None:
            return {}
        return self._body_cells(self.emails_by_hq.get(int(link.hq_parent_id or 0)), body)

    def find(self, link: repo.Link | None) -> tuple[dict[str, Any], str] | None:
        """The HQ absence a link owns: from the window's read, else one GET (it may lie outside)."""
        if link is None or not link.hq_id:
            return None
        found = self.hq_absences.get(str(link.hq_id))
        if found is None and link.state == LinkState.SYNCED and link.hq_parent_id and self.lookups < MAX_LOOKUPS:
            self.lookups += 1
            absence = self.hq.get(f"Users({int(link.hq_parent_id)})/Absences({int(link.hq_id)})")
            found = (absence, self.emails_by_hq.get(int(link.hq_parent_id)) or "") if absence else None
        return found

    def anchor(self, link: repo.Link) -> Cell | None:
        body = (link.written or {}).get("body") or {}
        if not body:
            return None
        start = parse_hq_datetime(body["Start"])
        person = self.emails_by_hq.get(int(link.hq_parent_id or 0)) or "(no e-mail)"
        label = self.labels.get(body["Type"], body["Type"])
        return Cell(AuditKind.ABSENCE_DAYS, person, body["Type"], label, month_of(start.date()))

    # -- pairs ----------------------------------------------------------------------------------

    def period_pair(self, pid: str, p: Period, paired: set[str]) -> Pair | None:
        """The pair of one Personio period (None: not wanted in HQ and not there), explained."""
        source, version = self.source_side(p)
        link = self.links.get(pid)
        absence = self.find(link)
        synced = link is not None and link.state == LinkState.SYNCED and bool(link.hq_id)
        if not source and absence is None and not synced:
            return None  # not wanted in HQ (pending, before the sync start, ...) and not there
        self.read.records += 1
        hq_id = str(absence[0]["Id"]) if absence else (link.hq_id if link else None)
        pair = Pair(AuditKind.ABSENCE_DAYS, pid, hq_id, source=source)
        if absence is not None:
            pair.hq = self.hq_side(*absence)
            paired.add(str(absence[0]["Id"]))
        if synced and link is not None:
            body = (link.written or {}).get("body") or {}
            pair.record_changed = absence is None or not same_absence(absence[0], body)
            pair.anchor = self.anchor(link)
        if pair.differs():
            self._explain_period(pair, pid, p, link, absence, version)
        return pair

    def _explain_period(
        self,
        pair: Pair,
        pid: str,
        p: Period,
        link: repo.Link | None,
        absence: tuple[dict[str, Any], str] | None,
        version: str | None,
    ) -> None:
        written = self.written_side(link)
        if (
            link is not None
            and link.state == LinkState.SYNCED
            and absence is not None
            and not pair.record_changed
            and (link.written or {}).get("version") == version
            and _same_days(pair.source, written)
            and {c.scope for c in pair.source} != {c.scope for c in written}
        ):
            pair.explain(
                Explanation.MAPPING_CHANGE,
                "mapping_change_not_retroactive",
                f"Personio absence {pid} is unchanged since it was written; only the type mapping changed "
                "since then (B4: existing absences stay until edited, or re-map the past on purpose)",
            )
            return
        known = self.staged.get(pid)
        state = "unseen" if known is None else "present"
        explain(
            pair,
            link,
            absence[0] if absence else None,
            written,
            self.items,
            self.synced_at,
            self.emails_by_hq,
            state,
            p.updated_at if known is not None else None,
            "Personio absence",
            describe(link),
        )

    def hq_only_pair(
        self, absence_id: str, absence: dict[str, Any], email: str, owned: dict[str, repo.Link]
    ) -> Pair | None:
        """The pair of an HQ absence no period of the window paired with (None: someone else's, no days)."""
        side = self.hq_side(absence, email)
        if not side and absence_id not in owned:
            return None  # someone else's, on no weekday of the window
        link = owned.get(absence_id)
        pair = Pair(AuditKind.ABSENCE_DAYS, link.source_id if link else None, absence_id, hq=side)
        if link is not None and link.state == LinkState.SYNCED:
            pair.record_changed = not same_absence(absence, (link.written or {}).get("body") or {})
        if link is None:
            creator = who(absence.get("CreatedBy"), self.emails_by_hq)
            pair.explain(
                Explanation.WRITTEN_BY_OTHERS,
                "not_from_personio",
                f"HQ absence {absence_id} was not written by the Personio sync (created by {creator} on "
                f"{str(absence.get('CreatedOn') or '?')[:10]})",
                creator,
            )
            return pair
        state, changed = self._period_state(link.source_id)
        explain(
            pair,
            link,
            absence,
            self.written_side(link),
            self.items,
            self.synced_at,
            self.emails_by_hq,
            state,
            changed,
            "Personio absence",
            describe(link),
        )
        return pair

    def owned(self) -> dict[str, repo.Link]:
        """The links of the HQ absences the sync owns, by HQ id."""
        return {
            str(link.hq_id): link
            for link in self.links.values()
            if link.hq_id and link.state in (LinkState.SYNCED, LinkState.PENDING)
        }

    def _period_state(self, source_id: str) -> tuple[str, datetime | None]:
        """What the sync knows of a period: unseen, deleted, gone (unconfirmed) or present, and since when."""
        known = self.staged.get(source_id)
        listed = self.periods.get(source_id)
        if known is None:
            return "unseen", None
        if known.deleted_at is not None:
            return "deleted", known.deleted_at
        if not self.fresh and listed is None:
            return "gone_unconfirmed", None
        return "present", (listed or known).updated_at


def describe(link: repo.Link | None) -> str:
    """What the sync wrote for a period, in words (for a difference without days, e.g. a weekend)."""
    body = ((link.written or {}).get("body") if link else None) or {}
    return f"{body['Type']} {str(body['Start'])[:16]} – {str(body['End'])[:16]}" if body else ""


def _same_days(a: dict[Cell, float], b: dict[Cell, float]) -> bool:
    """Whether two sides hold the same days per person and month, whatever the type."""

    def by_month(side: dict[Cell, float]) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for c, q in side.items():
            out[(c.person, c.month)] = out.get((c.person, c.month), 0.0) + q
        return out

    return by_month(a) == by_month(b)
