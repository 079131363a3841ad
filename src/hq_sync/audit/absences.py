"""Absence days per person, HQ type and month: Personio absence periods vs HQ absences (docs/audit.md).

The Personio side is what each period should be in HQ under the tenant's current rules (the
sync's own pure transform, ``plan_absence``), counted in days: weekdays Monday–Friday in half-day
steps (HQ's "MissedDays" rule, public holidays not counted); hour-based types count their hours / 8
in the month they start. Quarantined periods count too (their days are what HQ lacks). The HQ side
is every absence of every HQ user overlapping the window (one read per user).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hq_sync.audit.common import last_synced_at, open_items, staging_is_fresh, who
from hq_sync.audit.explain import explain
from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair, SourceRead, Window, month_of
from hq_sync.load.absences import same_absence
from hq_sync.mappings import build_mapping
from hq_sync.mappings.absence_types import load_catalogue
from hq_sync.pipelines.context import RunContext
from hq_sync.pipelines.personio_absences import period_row, person_row, type_row
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import personio_absence_periods, personio_absence_types, personio_persons
from hq_sync.transform.absences import AbsenceRules, Quarantined, StagedPeriod, Wanted, plan_absence

SOURCE = "personio"
MAX_LOOKUPS = 200  # single GETs per audit for owned absences not in the window's read
HALF_DAY = timedelta(hours=12)


@dataclass
class Period:
    id: str
    payload: dict[str, Any]
    updated_at: datetime | None
    deleted_at: datetime | None = None


def _parse(value: Any) -> datetime:
    """An HQ Start/End value (aware when it carries a zone, naive local otherwise)."""
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed


def absence_days(type_enum: str, start: Any, end: Any, window: Window, tz: str) -> dict[str, float]:
    """Days per month of one HQ-encoded absence, within the window (see the module docstring)."""
    hq_type = next((t for t in load_catalogue() if t.enum == type_enum), None)
    s, e = _parse(start), _parse(end)
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


def compare_absences(ctx: RunContext, window: Window, hq: Any, hq_users: list[dict[str, Any]], max_age: timedelta) -> tuple[list[Pair], SourceRead]:
    """The pairs of the absence audit (differing pairs explained) and how Personio was read."""
    tenant, tz = ctx.tenant.id, ctx.tenant.timezone
    cfg = ctx.tenant.sources.personio
    assert cfg is not None
    labels = {t.enum: t.label for t in load_catalogue()}
    emails_by_hq = {int(u["Id"]): str(u.get("EMailWork") or "").strip().casefold() for u in hq_users}
    hq_by_email = {e: str(i) for i, e in emails_by_hq.items() if e}
    first, last = window.start.isoformat(), window.end.isoformat()
    with ctx.staging.connect() as conn:
        fresh, why = staging_is_fresh(conn, tenant, SOURCE, ctx.now, max_age)
        synced_at = last_synced_at(conn, tenant, SOURCE)
        links = {l.source_id: l for l in repo.links(conn, tenant, SOURCE, "absence_period")}
        items = open_items(conn, tenant, SOURCE, "absence_period")
        persons = {r.source_id: r.email for r in conn.execute(select(personio_persons.c.source_id, personio_persons.c.email)
                                                               .where(personio_persons.c.tenant == tenant))}
        types = {r.source_id: {"name": r.name, "category": r.category, "unit": r.unit}
                 for r in conn.execute(select(personio_absence_types).where(personio_absence_types.c.tenant == tenant))}
        t = personio_absence_periods
        staged = {r.source_id: Period(r.source_id, r.payload, r.source_updated_at, r.deleted_at) for r in conn.execute(
            select(t).where(t.c.tenant == tenant, t.c.starts_at <= f"{last}T23:59:59",
                            (t.c.ends_at.is_(None)) | (t.c.ends_at >= f"{first}T00:00:00")))}
    read = SourceRead(SOURCE, "staging" if fresh else "source", why, last_synced_at=synced_at)
    if fresh:
        periods = {k: p for k, p in staged.items() if p.deleted_at is None}
    else:
        client = ctx.require_clients().personio()
        before = client.requests_sent
        persons = {r["source_id"]: r["email"] for page in client.persons() for r in map(person_row, page)}
        types = {r["source_id"]: {"name": r["name"], "category": r["category"], "unit": r["unit"]}
                 for page in client.absence_types() for r in map(type_row, page)}
        periods = {}
        for page in client.absence_periods(overlapping=(window.start, window.end)):
            for item in page:
                row = period_row(item)
                periods[row["source_id"]] = Period(row["source_id"], item, row["source_updated_at"])
        read.requests = client.requests_sent - before
    rules = AbsenceRules(mapping=build_mapping(cfg.absence_type_mapping), sync_start=cfg.sync_start_date, timezone=tz,
                         day_end=cfg.day_end, open_ended_months=cfg.open_ended_months)

    def cells(email: str | None, type_enum: str, label: str, start: Any, end: Any) -> dict[Cell, float]:
        person = (email or "").strip().casefold() or "(no e-mail)"
        return {Cell(AuditKind.ABSENCE_DAYS, person, type_enum, label, m): q
                for m, q in absence_days(type_enum, start, end, window, tz).items() if q}

    def source_side(p: Period) -> tuple[dict[Cell, float], str | None]:
        """What HQ should hold for the period (days), and its plan version (None: not wanted)."""
        staged_period = StagedPeriod(p.id, p.payload, p.updated_at)
        plan = plan_absence(staged_period, persons=persons, types=types, hq_users=hq_by_email, rules=rules, today=ctx.today)
        if isinstance(plan, Quarantined) and plan.reason in ("unknown_email", "unknown_person"):
            pid = str((p.payload.get("person") or {}).get("id") or "")
            stand_in = persons.get(pid) or f"personio-person-{pid}"
            plan_as = plan_absence(staged_period, persons={**persons, pid: stand_in}, types=types,
                                   hq_users={**hq_by_email, stand_in.strip().casefold(): "0"}, rules=rules, today=ctx.today)
            if isinstance(plan_as, Wanted):
                return cells(stand_in, plan_as.body["Type"], labels.get(plan_as.body["Type"], plan_as.body["Type"]),
                             plan_as.body["Start"], plan_as.body["End"]), plan_as.version
        if isinstance(plan, Wanted):
            email = next((e for e, i in hq_by_email.items() if i == plan.hq_user_id), None)
            return cells(email, plan.body["Type"], labels.get(plan.body["Type"], plan.body["Type"]),
                         plan.body["Start"], plan.body["End"]), plan.version
        if isinstance(plan, Quarantined):  # no HQ type to speak of: count the raw days
            starts = str((p.payload.get("starts_from") or {}).get("date_time") or "")[:10]
            ends = str(((p.payload.get("ends_at") or {}) or {}).get("date_time") or starts)[:10]
            type_id = str((p.payload.get("absence_type") or {}).get("id") or "")
            name = str((types.get(type_id) or {}).get("name") or type_id)
            pid = str((p.payload.get("person") or {}).get("id") or "")
            try:
                start_day, end_day = date.fromisoformat(starts), date.fromisoformat(ends)
            except ValueError:
                return {}, None
            end_exclusive = end_day if cfg.day_end == "exclusive" and end_day > start_day else end_day + timedelta(days=1)
            return cells(persons.get(pid), f"personio:{name}"[:64], f"{name} (Personio, not mapped)",
                         f"{start_day}T00:00:00", f"{end_exclusive}T00:00:00"), None
        return {}, None

    pairs: list[Pair] = []
    hq_absences: dict[str, tuple[dict[str, Any], str]] = {}
    for u in hq_users:
        for absence in hq.absences(u["Id"], start=window.start, end=window.end + timedelta(days=1)):
            hq_absences[str(absence["Id"])] = (absence, emails_by_hq.get(int(u["Id"])) or "")

    def hq_side(absence: dict[str, Any], email: str) -> dict[Cell, float]:
        t_enum = str(absence.get("Type"))
        return cells(email, t_enum, labels.get(t_enum, t_enum), absence.get("Start"), absence.get("End"))

    def written_side(link: repo.Link | None) -> dict[Cell, float]:
        body = ((link.written or {}).get("body") if link else None) or {}
        if not body:
            return {}
        return cells(emails_by_hq.get(int(link.hq_parent_id or 0)) if link else None, body["Type"],
                     labels.get(body["Type"], body["Type"]), body["Start"], body["End"])

    lookups = [0]

    def find(link: repo.Link | None) -> tuple[dict[str, Any], str] | None:
        """The HQ absence a link owns: from the window's read, else one GET (it may lie outside)."""
        if link is None or not link.hq_id:
            return None
        found = hq_absences.get(str(link.hq_id))
        if found is None and link.state == "synced" and link.hq_parent_id and lookups[0] < MAX_LOOKUPS:
            lookups[0] += 1
            absence = hq.get(f"Users({int(link.hq_parent_id)})/Absences({int(link.hq_id)})")
            found = (absence, emails_by_hq.get(int(link.hq_parent_id)) or "") if absence else None
        return found

    def anchor(link: repo.Link) -> Cell | None:
        body = (link.written or {}).get("body") or {}
        if not body:
            return None
        start = datetime.fromisoformat(str(body["Start"]).replace("Z", "+00:00"))
        person = emails_by_hq.get(int(link.hq_parent_id or 0)) or "(no e-mail)"
        return Cell(AuditKind.ABSENCE_DAYS, person, body["Type"], labels.get(body["Type"], body["Type"]), month_of(start.date()))

    paired: set[str] = set()
    read.records = 0
    for pid, p in sorted(periods.items()):
        source, version = source_side(p)
        link = links.get(pid)
        absence = find(link)
        synced = link is not None and link.state == "synced" and bool(link.hq_id)
        if not source and absence is None and not synced:
            continue  # not wanted in HQ (pending, before the sync start, ...) and not there
        read.records += 1
        pair = Pair(AuditKind.ABSENCE_DAYS, pid, str(absence[0]["Id"]) if absence else (link.hq_id if link else None), source=source)
        if absence is not None:
            pair.hq = hq_side(*absence)
            paired.add(str(absence[0]["Id"]))
        if synced:
            pair.record_changed = absence is None or not same_absence(absence[0], (link.written or {}).get("body") or {})
            pair.anchor = anchor(link)
        pairs.append(pair)
        if not pair.differs():
            continue
        written = written_side(link)
        if (link is not None and link.state == "synced" and absence is not None and not pair.record_changed
                and (link.written or {}).get("version") == version and _same_days(pair.source, written)
                and {c.scope for c in pair.source} != {c.scope for c in written}):
            pair.explain(Explanation.MAPPING_CHANGE, "mapping_change_not_retroactive",
                         f"Personio absence {pid} is unchanged since it was written; only the type mapping changed "
                         "since then (B4: existing absences stay until edited, or re-map the past on purpose)")
            continue
        known = staged.get(pid)
        state = "unseen" if known is None else "present"
        explain(pair, link, absence[0] if absence else None, written, items, synced_at, emails_by_hq, state,
                p.updated_at if known is not None else None, "Personio absence", describe(link))
    owned = {str(l.hq_id): l for l in links.values() if l.hq_id and l.state in ("synced", "pending")}
    for absence_id, (absence, email) in sorted(hq_absences.items()):
        if absence_id in paired:
            continue
        side = hq_side(absence, email)
        if not side and absence_id not in owned:
            continue  # someone else's, on no weekday of the window
        link = owned.get(absence_id)
        pair = Pair(AuditKind.ABSENCE_DAYS, link.source_id if link else None, absence_id, hq=side)
        if link is not None and link.state == "synced":
            pair.record_changed = not same_absence(absence, (link.written or {}).get("body") or {})
        pairs.append(pair)
        if link is None:
            creator = who(absence.get("CreatedBy"), emails_by_hq)
            pair.explain(Explanation.WRITTEN_BY_OTHERS, "not_from_personio",
                         f"HQ absence {absence_id} was not written by the Personio sync (created by {creator} on "
                         f"{str(absence.get('CreatedOn') or '?')[:10]})", creator)
            continue
        known = staged.get(link.source_id)
        listed = periods.get(link.source_id)
        if known is None:
            state, changed = "unseen", None
        elif known.deleted_at is not None:
            state, changed = "deleted", known.deleted_at
        elif not fresh and listed is None:
            state, changed = "gone_unconfirmed", None
        else:
            state, changed = "present", (listed or known).updated_at
        explain(pair, link, absence, written_side(link), items, synced_at, emails_by_hq, state, changed, "Personio absence",
                describe(link))
    return pairs, read


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
