"""Make HQ's absences match the plan (product.md B3, B7), without ever booking twice.

HQ has no PUT for absences and no external-id field, so:

- a change is delete + create;
- only absences this sync created (recorded in ``hq_links``) are ever changed or deleted;
- every create is announced first: the link is saved as ``pending`` with the body we are about to
  send. A pending link found later (crash, lost answer, timeout) is settled by looking in HQ for an
  absence of that user with exactly that body that no other link owns: found → adopted, not found
  → created. Only then: a first create never adopts, so an identical absence entered by hand (for
  example before HQ's Personio lock was switched on, B7) stays someone else's.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from hq_sync.clients.hq import HqClient
from hq_sync.clients.http import AmbiguousWriteError, ClientError
from hq_sync.pipelines.context import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import planned_hq_state

log = logging.getLogger(__name__)

SOURCE = "personio"
ENTITY = "absence_period"
HQ_ENTITY = "Absence"
CREATE_ATTEMPTS = 3


def _moment(value: Any) -> datetime:
    """HQ Start/End values compared as instants (day types: naive local; hour types: UTC)."""
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed


def same_absence(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether an HQ absence is the one ``body`` describes."""
    try:
        return (
            existing.get("Type") == body["Type"]
            and _moment(existing.get("Start")) == _moment(body["Start"])
            and _moment(existing.get("End")) == _moment(body["End"])
            and (existing.get("Note") or "") == (body.get("Note") or "")
        )
    except (TypeError, ValueError):
        return False


def _days(body: dict[str, Any]) -> tuple[date, date]:
    start = _moment(body["Start"]).date()
    end = _moment(body["End"]).date() + timedelta(days=1)
    return start - timedelta(days=1), end


class AbsenceLoader:
    def __init__(self, ctx: RunContext, hq: HqClient, remap_past: bool) -> None:
        self.ctx = ctx
        self.hq = hq
        self.remap_past = remap_past
        self.tenant = ctx.tenant.id
        self.counts = repo.EntityCounts()

    # -- link bookkeeping ------------------------------------------------------------------
    def _save(self, source_id: str, state: str, *, hq_id: str | None, user: str | None, written: Any) -> None:
        with self.ctx.staging.begin() as conn:
            repo.save_link(
                conn, tenant=self.tenant, source=SOURCE, entity=ENTITY, source_id=source_id,
                hq_entity=HQ_ENTITY, state=state, hq_id=hq_id, hq_parent_id=user, written=written,
            )

    def _owned_ids(self) -> set[str]:
        with self.ctx.staging.connect() as conn:
            return repo.owned_hq_ids(conn, self.tenant, HQ_ENTITY)

    # -- HQ operations ---------------------------------------------------------------------
    def _find_unowned(self, user: str, body: dict[str, Any]) -> dict[str, Any] | None:
        first, last = _days(body)
        owned = self._owned_ids()
        for absence in self.hq.absences(user, start=first, end=last):
            if str(absence.get("Id")) not in owned and same_absence(absence, body):
                return absence
        return None

    def _create(self, source_id: str, user: str, written: dict[str, Any], settle_first: bool) -> str | None:
        """Create the absence of a pending link; returns its HQ id, None if refused.

        HQ is searched for an identical absence to adopt **only after an attempt whose answer was
        lost**: an earlier run's (``settle_first``: the link was already pending) or this call's.
        A first create never adopts, so an identical absence someone entered by hand stays theirs.
        """
        body = written["body"]
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            if settle_first or attempt > 1:
                found = self._find_unowned(user, body)
                if found is not None:
                    log.info("absence %s: adopted HQ absence %s (an earlier create's answer was lost)", source_id, found["Id"])
                    return str(found["Id"])
            try:
                created = self.hq.create_absence(user, body)
                return str(created["Id"])
            except AmbiguousWriteError as exc:
                log.warning("absence %s: create outcome unknown (%s); checking HQ (attempt %d)", source_id, exc, attempt)
            except ClientError as exc:
                self._refused(source_id, user, exc)
                return None
        found = self._find_unowned(user, body)
        if found is not None:
            return str(found["Id"])
        raise AmbiguousWriteError(f"HQ create of absence {source_id} stayed ambiguous after {CREATE_ATTEMPTS} attempts")

    def _refused(self, source_id: str, user: str, exc: ClientError) -> None:
        with self.ctx.staging.begin() as conn:
            repo.quarantine_record(
                conn, tenant=self.tenant, source=SOURCE, entity=ENTITY, source_id=source_id, reason="hq_rejected",
                detail=f"HQ refused the absence: {exc}", context={"hq_user_id": user, "status": exc.status},
                run_id=self.ctx.run_id,
            )
        self.counts.count("quarantined", "hq_rejected")

    def _accepted(self, source_id: str) -> None:
        with self.ctx.staging.begin() as conn:
            repo.resolve_quarantine(conn, tenant=self.tenant, source=SOURCE, entity=ENTITY, source_id=source_id)

    # -- per record ------------------------------------------------------------------------
    def apply(self, plan: Any, link: repo.Link | None) -> None:
        source_id = plan.source_id
        if plan.plan == "quarantined":
            return  # counted by transform; an existing HQ absence stays as it is
        if plan.plan == "not_wanted":
            if plan.reason == "before_sync_start":
                return  # never touched, even if the sync start date moved
            if link is not None and link.state in ("synced", "pending") and link.hq_id:
                self.hq.delete_absence(link.hq_parent_id, link.hq_id)  # 404 (already gone) is fine
                self._save(source_id, "deleted", hq_id=None, user=link.hq_parent_id, written=None)
                self.counts.count("deleted", plan.reason)
            elif link is not None and link.state == "pending":
                # A create may have happened without us hearing back: remove it if it did.
                found = self._find_unowned(link.hq_parent_id, link.written["body"]) if link.written else None
                if found is not None:
                    self.hq.delete_absence(link.hq_parent_id, found["Id"])
                self._save(source_id, "deleted", hq_id=None, user=link.hq_parent_id, written=None)
            return

        written = {"body": plan.body, "version": plan.version}
        user = str(plan.hq_parent_id)
        if link is not None and link.state == "synced":
            prev = link.written or {}
            if prev.get("body") == plan.body and link.hq_parent_id == user:
                if prev.get("version") != plan.version:
                    self._save(source_id, "synced", hq_id=link.hq_id, user=user, written=written)
                self.counts.count("skipped", "unchanged")
                return
            if prev.get("version") == plan.version and link.hq_parent_id == user and not self.remap_past:
                # Only our mapping changed, not the absence: B4 says leave it until it is edited.
                self.counts.count("skipped", "mapping_change_not_retroactive")
                return
        replacing = link is not None and link.state in ("synced", "pending") and link.hq_id is not None
        # A create announced by an earlier run may have happened without us hearing back.
        settle = link is not None and link.state == "pending" and not link.hq_id
        # Announce the write before sending it (see the module docstring).
        self._save(source_id, "pending", hq_id=link.hq_id if replacing else None,
                   user=link.hq_parent_id if replacing else user, written=written)
        if replacing:
            self.hq.delete_absence(link.hq_parent_id, link.hq_id)
            self._save(source_id, "pending", hq_id=None, user=user, written=written)
        hq_id = self._create(source_id, user, written, settle_first=settle)
        if hq_id is None:
            return
        self._save(source_id, "synced", hq_id=hq_id, user=user, written=written)
        self._accepted(source_id)
        was_synced_before = link is not None and (link.state == "synced" or replacing)
        self.counts.count("updated" if was_synced_before else "created")


def load_absences(ctx: RunContext, *, remap_past: bool = False) -> repo.EntityCounts:
    """Apply every planned absence of the tenant to HQ; returns what was done."""
    hq: HqClient = ctx.require_clients().hq()
    loader = AbsenceLoader(ctx, hq, remap_past)
    with ctx.staging.connect() as conn:
        plans = list(_plans(conn, ctx.tenant.id))
        links = {l.source_id: l for l in repo.links(conn, ctx.tenant.id, SOURCE, ENTITY)}
    for plan in plans:
        loader.apply(plan, links.get(plan.source_id))
    log.info("load %s: %s (%d HQ requests)", ctx.tenant.id, loader.counts.as_dict(), hq.requests_sent)
    return loader.counts


def _plans(conn: Connection, tenant: str) -> Any:
    t = planned_hq_state
    return conn.execute(
        select(t).where(t.c.tenant == tenant, t.c.source == SOURCE, t.c.entity == ENTITY).order_by(t.c.source_id)
    ).all()
