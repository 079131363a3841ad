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

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from hq_sync.clients.hq import HqClient
from hq_sync.load.concurrency import DEFAULT_CHUNK, LoadTiming, WritePool
from hq_sync.load.exactly_once import Chunk, Create, CreateResult, Effect, ExactlyOnce, LinkSpec
from hq_sync.progress import Progress, summary_line
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.repository import Link, PlannedRecord
from hq_sync.staging.states import LinkState, Outcome, Plan
from hq_sync.timeutil import parse_hq_datetime

log = logging.getLogger(__name__)

SOURCE = "personio"
ENTITY = "absence_period"
HQ_ENTITY = "Absence"
LIVE = (LinkState.SYNCED, LinkState.PENDING)  # links whose HQ absence may exist

Finder = Callable[[set[str]], dict[str, Any] | None]


def same_absence(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether an HQ absence is the one ``body`` describes."""
    try:
        return (
            existing.get("Type") == body["Type"]
            and parse_hq_datetime(existing.get("Start")) == parse_hq_datetime(body["Start"])
            and parse_hq_datetime(existing.get("End")) == parse_hq_datetime(body["End"])
            and (existing.get("Note") or "") == (body.get("Note") or "")
        )
    except (TypeError, ValueError):
        return False


def _days(body: dict[str, Any]) -> tuple[date, date]:
    start = parse_hq_datetime(body["Start"]).date()
    end = parse_hq_datetime(body["End"]).date() + timedelta(days=1)
    return start - timedelta(days=1), end


def _user(link: Link) -> str:
    """The HQ user of a link's absence (in the URL)."""
    return str(link.hq_parent_id)


class AbsenceLoader:
    """Applies the planned absences chunk by chunk: one staging transaction per chunk (not per
    record), the HQ writes of a chunk concurrently, every create through ``ExactlyOnce``."""

    def __init__(self, ctx: RunContext, hq: HqClient, remap_past: bool, *, pool: WritePool | None = None) -> None:
        self.ctx = ctx
        self.hq = hq
        self.remap_past = remap_past
        self.tenant = ctx.tenant.id
        self.counts = repo.EntityCounts()
        self.pool = pool or WritePool(getattr(hq, "write_concurrency", 1))
        self.timing = LoadTiming()
        spec = LinkSpec(self.tenant, SOURCE, ENTITY, HQ_ENTITY)
        self.once = ExactlyOnce(ctx.staging, spec, self.pool, self.timing)
        self.open_items: set[str] = set()  # records with open quarantine items (resolved once accepted)

    # -- staging effects (run in the chunk's transaction) ---------------------------------
    def _link(self, source_id: str, state: LinkState, *, hq_id: str | None, user: str | None, written: Any) -> Effect:
        def effect(conn: Connection) -> None:
            repo.save_link(
                conn,
                tenant=self.tenant,
                source=SOURCE,
                entity=ENTITY,
                source_id=source_id,
                hq_entity=HQ_ENTITY,
                state=state,
                hq_id=hq_id,
                hq_parent_id=user,
                written=written,
            )

        return effect

    def _after_creates(self, conn: Connection, results: list[CreateResult]) -> None:
        for result in results:
            source_id, replaced = result.create.source_id, result.create.context
            if result.refused is not None:
                repo.quarantine_record(
                    conn,
                    tenant=self.tenant,
                    source=SOURCE,
                    entity=ENTITY,
                    source_id=source_id,
                    reason="hq_rejected",
                    detail=f"HQ refused the absence: {result.refused}",
                    context={"hq_user_id": result.create.parent, "status": result.refused.status},
                    run_id=self.ctx.run_id,
                )
                self.counts.count(Outcome.QUARANTINED, "hq_rejected")
            elif result.ok:
                if source_id in self.open_items:
                    repo.resolve_quarantine(conn, tenant=self.tenant, source=SOURCE, entity=ENTITY, source_id=source_id)
                self.counts.count(Outcome.UPDATED if replaced else Outcome.CREATED)

    # -- HQ operations ---------------------------------------------------------------------
    def _finder(self, user: str, body: dict[str, Any]) -> Finder:
        def find(excluded: set[str]) -> dict[str, Any] | None:
            first, last = _days(body)
            for absence in self.hq.absences(user, start=first, end=last):
                if str(absence.get("Id")) not in excluded and same_absence(absence, body):
                    return absence
            return None

        return find

    # -- per record: decide what the chunk does --------------------------------------------
    def decide(self, chunk: Chunk, plan: PlannedRecord, link: Link | None) -> None:
        if plan.plan is Plan.QUARANTINED:
            return  # counted by transform; an existing HQ absence stays as it is
        if plan.plan is Plan.NOT_WANTED:
            self._unwanted(chunk, plan, link)
            return
        written = {"body": plan.body, "version": plan.version}
        user = str(plan.hq_parent_id)
        if link is not None and link.state is LinkState.SYNCED and self._unchanged(chunk, plan, link, written, user):
            return
        chunk.creates.append(self._create(plan, link, written, user))

    def _unwanted(self, chunk: Chunk, plan: PlannedRecord, link: Link | None) -> None:
        if plan.reason == "before_sync_start" or link is None:
            return  # never touched, even if the sync start date moved; or never ours
        if link.state in LIVE and link.hq_id:
            reason = plan.reason

            def delete(link: Link = link) -> Effect:
                self.hq.delete_absence(_user(link), str(link.hq_id))  # 404 (already gone) is fine

                def effect(conn: Connection) -> None:
                    self._link(link.source_id, LinkState.DELETED, hq_id=None, user=link.hq_parent_id, written=None)(
                        conn
                    )
                    self.counts.count(Outcome.DELETED, reason)

                return effect

            chunk.ops.append(delete)
        elif link.state is LinkState.PENDING:
            # A create may have happened without us hearing back: remove it if it did.
            def settle(link: Link = link) -> Effect:
                if link.written:
                    found = self._finder(_user(link), link.written["body"])(self.once.owned())
                    if found is not None:
                        self.hq.delete_absence(_user(link), found["Id"])
                return self._link(link.source_id, LinkState.DELETED, hq_id=None, user=link.hq_parent_id, written=None)

            chunk.settle.append(settle)

    def _unchanged(self, chunk: Chunk, plan: PlannedRecord, link: Link, written: dict[str, Any], user: str) -> bool:
        """Whether a synced absence stays as it is (counted skipped; a new version is recorded)."""
        prev = link.written or {}
        if prev.get("body") == plan.body and link.hq_parent_id == user:
            if prev.get("version") != plan.version:
                chunk.quick.append(
                    self._link(plan.source_id, LinkState.SYNCED, hq_id=link.hq_id, user=user, written=written)
                )
            self.counts.count(Outcome.SKIPPED, "unchanged")
            return True
        if prev.get("version") == plan.version and link.hq_parent_id == user and not self.remap_past:
            # Only our mapping changed, not the absence: B4 says leave it until it is edited.
            self.counts.count(Outcome.SKIPPED, "mapping_change_not_retroactive")
            return True
        return False

    def _create(self, plan: PlannedRecord, link: Link | None, written: dict[str, Any], user: str) -> Create:
        replacing = link is not None and link.state in LIVE and link.hq_id is not None
        old = link if replacing else None
        before = None
        if old is not None:
            # HQ has no PUT for absences: the old one goes first (in the worker, right before the create).
            def before(link: Link = old) -> None:
                self.hq.delete_absence(_user(link), str(link.hq_id))  # 404 (already gone) is fine

        body = plan.wanted_body()
        return Create(
            source_id=plan.source_id,
            written=written,
            parent=user,
            label="absence",
            send=functools.partial(self.hq.create_absence, user, body),
            find=self._finder(user, body),
            # A create announced by an earlier attempt may have happened without us hearing back.
            settle_first=link is not None and link.state is LinkState.PENDING,
            pending_hq_id=old.hq_id if old is not None else None,
            pending_parent=old.hq_parent_id if old is not None else None,
            before=before,
            context=link is not None and (link.state is LinkState.SYNCED or replacing),
        )

    def load(self, total: int, chunks: Iterator[tuple[list[PlannedRecord], dict[str, Link]]]) -> None:
        """Apply the plan chunk by chunk (``repo.plan_chunks``: one chunk's plans and links in memory)."""
        progress = Progress(f"load {self.tenant} absences", total, logger=log)
        self.once.run_plan(chunks, self.decide, self._after_creates, progress)


def load_absences(
    ctx: RunContext, *, remap_past: bool = False, stats: dict[str, Any] | None = None
) -> repo.EntityCounts:
    """Apply every planned absence of the tenant to HQ; returns what was done. ``stats`` (when
    given) receives the HQ requests of the load and where its time went (``LoadTiming``)."""
    hq: HqClient = ctx.require_clients().hq()
    loader = AbsenceLoader(ctx, hq, remap_past)
    before = hq.requests_sent
    with loader.timing.staging(), ctx.staging.connect() as conn:
        total = repo.count_plans(conn, ctx.tenant.id, SOURCE, ENTITY)
        loader.open_items = repo.open_quarantine_ids(conn, ctx.tenant.id, SOURCE, ENTITY)
    loader.load(total, repo.plan_chunks(ctx.staging, ctx.tenant.id, SOURCE, ENTITY, DEFAULT_CHUNK))
    timing = loader.timing.as_dict()
    if stats is not None:
        stats.update(requests=hq.requests_sent - before, timing=timing, workers=loader.pool.workers)
    log.info(
        "load %s absences: %s; %d HQ requests; %s",
        ctx.tenant.id,
        summary_line(loader.counts.as_dict()),
        hq.requests_sent - before,
        summary_line(timing),
    )
    return loader.counts
