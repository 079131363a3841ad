"""Make HQ's reportings match the planned awork time entries (product.md A5, A8, A9).

- Create through ``POST Projects({id})/do.CreateReporting`` (HQ computes the rates); an edit is a
  ``PUT Users({uid})/Reportings({rid})`` (note, duration, start, task); a move to another user or
  project, which HQ's PUT refuses, is delete + create; a deleted entry deletes its reporting.
- **Only reportings this sync created** (``hq_links``) are ever changed or deleted.
- **Billed reportings are never touched**: a reporting on an HQ invoice whose entry changed or
  vanished is counted as a conflict (``billed``) and quarantined ``billed_conflict``; HQ stays as
  it is, and the item resolves itself when the entry matches the reporting again.
- **No duplicates under lost answers**: before each create the link is saved ``pending`` with the
  body; a pending link is settled by looking for an identical reporting (user, project, task,
  start, duration, description) that no link owns: found → adopted, else created.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from hq_sync.clients.hq import HqClient, odata_literal
from hq_sync.clients.http import ClientError
from hq_sync.load.concurrency import DEFAULT_CHUNK, LoadTiming, WritePool
from hq_sync.load.exactly_once import Chunk, Create, CreateResult, Effect, ExactlyOnce, LinkSpec
from hq_sync.load.hq_tasks import SyncMap
from hq_sync.progress import Progress, summary_line
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.repository import Link, PlannedRecord
from hq_sync.staging.states import LinkState, Outcome, Plan
from hq_sync.timeutil import parse_timestamp

log = logging.getLogger(__name__)

SOURCE = "awork"
ENTITY = "time_entry"
HQ_ENTITY = "Reporting"
# Not wanted, but left as they are in HQ: before the sync start date, or their project was unlinked.
UNTOUCHED = ("before_sync_start", "project_unlinked")
LOAD_REASONS = ("hq_rejected", "billed_conflict")

Finder = Callable[[set[str]], dict[str, Any] | None]


def _instant(value: Any) -> datetime | None:
    """HQ's ``…On`` values are UTC (hq.md §4): naive ones are read as UTC, not as local time."""
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        return None


def same_reporting(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether an HQ reporting is the one ``body`` (our create body + ProjectId) describes."""
    return (
        int(existing.get("UserId") or 0) == int(body["UserId"])
        and int(existing.get("ProjectId") or 0) == int(body["ProjectId"])
        and (existing.get("TaskId") or None) == (body.get("TaskId") or None)
        and _instant(existing.get("StartOn")) == _instant(body["StartDate"])
        and int(existing.get("Duration") or 0) == int(body["Duration"])
        and (existing.get("Note") or "") == (body.get("Description") or "")
    )


def _is_billed_error(exc: ClientError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    return code == "ReportingBilled" or "billed" in str(exc).lower()


def _user(link: Link) -> str:
    """The HQ user of a link's reporting (in the URL)."""
    return str(link.hq_parent_id)


class ReportingLoader:
    """Applies planned reportings of one source and entity (awork time entries by default; the
    timesheet import reuses it with ``source="timesheets"``). A plan body names its task either by
    ``TaskSyncId`` (looked up in ``sync_map``) or directly by ``TaskId`` (None: no task).

    Chunk by chunk: one staging transaction per chunk, not per record; a chunk's HQ writes run
    concurrently (``WritePool``); every create goes through ``ExactlyOnce``."""

    def __init__(
        self,
        ctx: RunContext,
        hq: HqClient,
        sync_map: SyncMap,
        *,
        source: str = SOURCE,
        entity: str = ENTITY,
        label: str = "time entry",
        origin: str = "awork",
        pool: WritePool | None = None,
    ) -> None:
        self.ctx = ctx
        self.hq = hq
        self.sync_map = sync_map
        self.tenant = ctx.tenant.id
        self.source = source
        self.entity = entity
        self.label = label  # what a source record is called in messages
        self.origin = origin  # where it comes from, in messages
        self.counts = repo.EntityCounts()
        self._billed: set[int] | None = None
        self._billed_lock = threading.Lock()
        self.pool = pool or WritePool(getattr(hq, "write_concurrency", 1))
        self.timing = LoadTiming()
        self.once = ExactlyOnce(ctx.staging, LinkSpec(self.tenant, source, entity, HQ_ENTITY), self.pool, self.timing)
        self.open_items: set[str] = set()  # records with open load-owned quarantine items

    # -- staging effects (run in the chunk's transaction) ---------------------------------
    def _link(self, source_id: str, state: LinkState, *, hq_id: str | None, user: str | None, written: Any) -> Effect:
        def effect(conn: Connection) -> None:
            repo.save_link(
                conn,
                tenant=self.tenant,
                source=self.source,
                entity=self.entity,
                source_id=source_id,
                hq_entity=HQ_ENTITY,
                state=state,
                hq_id=hq_id,
                hq_parent_id=user,
                written=written,
            )

        return effect

    def _quarantine(self, conn: Connection, source_id: str, reason: str, detail: str, context: dict[str, Any]) -> None:
        repo.quarantine_record(
            conn,
            tenant=self.tenant,
            source=self.source,
            entity=self.entity,
            source_id=source_id,
            reason=reason,
            detail=detail,
            context=context,
            run_id=self.ctx.run_id,
        )

    def _settled(self, conn: Connection, source_id: str) -> None:
        if source_id in self.open_items:  # only records with open items: a clean run writes nothing per record
            repo.resolve_quarantine(
                conn,
                tenant=self.tenant,
                source=self.source,
                entity=self.entity,
                source_id=source_id,
                reasons=LOAD_REASONS,
            )

    def _billed_ids(self) -> set[int]:
        with self._billed_lock:
            if self._billed is None:
                self._billed = self.hq.billed_reporting_ids()
            return self._billed

    def _conflict(self, source_id: str, link: Link, what: str) -> Effect:
        def effect(conn: Connection) -> None:
            self.counts.count(Outcome.CONFLICTS, "billed")
            self._quarantine(
                conn,
                source_id,
                "billed_conflict",
                f"{self.label} {source_id} was {what} in {self.origin}, "
                f"but its HQ reporting {link.hq_id} is already billed; HQ was left unchanged",
                {
                    "hq_reporting_id": link.hq_id,
                    "hq_user_id": link.hq_parent_id,
                    "change": what,
                    "booked": (link.written or {}).get("body"),
                },
            )

        return effect

    def _refused(self, source_id: str, body: dict[str, Any], exc: ClientError) -> Effect:
        def effect(conn: Connection) -> None:
            self._quarantine(
                conn,
                source_id,
                "hq_rejected",
                f"HQ refused the reporting: {exc}",
                {"hq_user_id": body.get("UserId"), "status": exc.status},
            )
            self.counts.count(Outcome.QUARANTINED, "hq_rejected")

        return effect

    def _after_creates(self, conn: Connection, results: list[CreateResult]) -> None:
        for result in results:
            create = result.create
            source_id, (outcome, reason, link, body) = create.source_id, create.context
            if result.aborted is not None:  # a move whose delete HQ refused (billed): the old link stays
                self._link(source_id, LinkState.SYNCED, hq_id=link.hq_id, user=link.hq_parent_id, written=link.written)(
                    conn
                )
                result.aborted(conn)
            elif result.refused is not None:
                self._refused(source_id, body, result.refused)(conn)
            elif result.ok:
                self._settled(conn, source_id)
                self.counts.count(outcome, reason)

    # -- HQ operations ---------------------------------------------------------------------
    def _finder(self, body: dict[str, Any]) -> Finder:
        def find(excluded: set[str]) -> dict[str, Any] | None:
            start = _instant(body["StartDate"])
            query = f"ProjectId eq {int(body['ProjectId'])}"
            if start is not None:
                query += f" and StartOn eq {odata_literal(start)}"
            for rep in self.hq.user_reportings(body["UserId"], filter=query):
                if str(rep.get("Id")) not in excluded and same_reporting(rep, body):
                    return rep
            return None

        return find

    def _create(
        self,
        source_id: str,
        body: dict[str, Any],
        written: dict[str, Any],
        *,
        outcome: Outcome,
        reason: str | None = None,
        settle_first: bool = False,
        link: Link | None = None,
        move_from: Link | None = None,
        delete_first: Link | None = None,
    ) -> Create:
        create_body = {k: body[k] for k in ("UserId", "StartDate", "Duration", "TaskId", "Description")}
        before = None
        if move_from is not None:

            def before(old: Link = move_from) -> Effect | None:  # delete the old one right before the create
                return self._delete_or_conflict(source_id, old, "moved")
        elif delete_first is not None:  # a delete of a move was under way

            def before(old: Link = delete_first) -> None:
                self.hq.delete_reporting(_user(old), str(old.hq_id))

        old = move_from or delete_first
        return Create(
            source_id=source_id,
            written=written,
            parent=str(body["UserId"]),
            label=self.label,
            send=lambda: self.hq.create_reporting(body["ProjectId"], create_body),
            find=self._finder(body),
            settle_first=settle_first,
            before=before,
            pending_hq_id=old.hq_id if old is not None else None,
            pending_parent=old.hq_parent_id if old is not None else None,
            context=(outcome, reason, link, body),
        )

    def _delete_or_conflict(self, source_id: str, link: Link, what: str) -> Effect | None:
        """Delete the linked reporting (in a worker); the conflict's effect when HQ has billed it."""
        if link.hq_id and int(link.hq_id) in self._billed_ids():
            return self._conflict(source_id, link, what)
        try:
            self.hq.delete_reporting(_user(link), str(link.hq_id))  # 404 (already gone) is fine
        except ClientError as exc:
            if _is_billed_error(exc):
                return self._conflict(source_id, link, what)
            raise
        return None

    # -- per record: decide what the chunk does --------------------------------------------
    def decide(self, chunk: Chunk, plan: PlannedRecord, link: Link | None) -> None:
        if plan.plan is Plan.QUARANTINED:
            return  # counted by transform; an existing reporting stays as it is
        if plan.plan is Plan.NOT_WANTED:
            self._unwanted(chunk, plan, link)
            return
        planned = self._planned(plan)
        if planned is None:
            return
        body, written = planned
        source_id = plan.source_id
        if link is not None and link.state is LinkState.SYNCED and link.hq_id:
            self._synced(chunk, source_id, link, body, written)
            return
        settle = link is not None and link.state is LinkState.PENDING
        delete_first = link if settle and link is not None and link.hq_id else None
        chunk.creates.append(
            self._create(
                source_id,
                body,
                written,
                outcome=Outcome.CREATED,
                settle_first=settle,
                link=link,
                delete_first=delete_first,
            )
        )

    def _planned(self, plan: PlannedRecord) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The reporting's body (its task resolved) and what its link records; None: the task is
        not in HQ (counted skipped)."""
        body = plan.wanted_body()
        awork_project = body.pop("AworkProjectId", None)
        task_sync = body.pop("TaskSyncId", None)
        if task_sync is not None:
            task_id = self.sync_map.get((int(body["ProjectId"]), str(task_sync)))
            if task_id is None:
                self.counts.count(Outcome.SKIPPED, "task_not_in_hq")
                return None
            body["TaskId"] = task_id
        else:
            body["TaskId"] = body.get("TaskId")  # named directly (None: a reporting without task)
        written = {"body": body, "version": plan.version, "awork_project": awork_project}
        if plan.notes:  # where the record came from (e.g. timesheet file and line), for the audit
            written["origin"] = plan.notes
        return body, written

    def _synced(self, chunk: Chunk, source_id: str, link: Link, body: dict[str, Any], written: dict[str, Any]) -> None:
        """A reporting this sync booked: unchanged, a billed conflict, an edit (PUT) or a move."""
        prev = (link.written or {}).get("body") or {}
        if prev == body:
            effects: list[Effect] = []
            if link.written != written:
                user = str(body["UserId"])
                effects.append(self._link(source_id, LinkState.SYNCED, hq_id=link.hq_id, user=user, written=written))
            if source_id in self.open_items:
                effects.append(lambda conn: self._settled(conn, source_id))
            chunk.quick.extend(effects)
            self.counts.count(Outcome.SKIPPED, "unchanged")
            return
        if int(str(link.hq_id)) in self._billed_ids():
            chunk.quick.append(self._conflict(source_id, link, "changed"))
            return
        if prev.get("UserId") == body["UserId"] and prev.get("ProjectId") == body["ProjectId"]:
            chunk.ops.append(lambda: self._update(chunk, source_id, link, body, written))
            return
        # Another user or project: HQ cannot move a reporting, so delete + create.
        chunk.creates.append(
            self._create(source_id, body, written, outcome=Outcome.UPDATED, reason="moved", link=link, move_from=link)
        )

    def _update(
        self, chunk: Chunk, source_id: str, link: Link, body: dict[str, Any], written: dict[str, Any]
    ) -> Effect | None:
        """In a worker: PUT the changed reporting (its effect), or book it again when it is gone."""
        current = self.hq.reporting(_user(link), str(link.hq_id))
        if current is None:  # deleted in HQ by hand: book it again
            chunk.creates.append(
                self._create(source_id, body, written, outcome=Outcome.CREATED, reason="recreated", link=link)
            )
            return None
        changes = {
            "Note": body["Description"],
            "Duration": body["Duration"],
            "StartOn": body["StartDate"],
            "TaskId": body["TaskId"],
        }
        try:
            self.hq.update_reporting(current, changes)
        except ClientError as exc:
            if _is_billed_error(exc):
                return self._conflict(source_id, link, "changed")
            return self._refused(source_id, body, exc)

        def effect(conn: Connection) -> None:
            self._link(source_id, LinkState.SYNCED, hq_id=link.hq_id, user=str(body["UserId"]), written=written)(conn)
            self._settled(conn, source_id)
            self.counts.count(Outcome.UPDATED, "edited")

        return effect

    def _unwanted(self, chunk: Chunk, plan: PlannedRecord, link: Link | None) -> None:
        source_id = plan.source_id
        if plan.reason in UNTOUCHED or link is None or link.state is LinkState.DELETED:
            return
        if link.hq_id:
            what = "deleted" if plan.reason == "deleted_in_source" else "unlinked"

            def delete(link: Link = link, reason: str | None = plan.reason) -> Effect:
                conflict = self._delete_or_conflict(source_id, link, what)
                if conflict is not None:
                    return conflict

                def effect(conn: Connection) -> None:
                    self._link(source_id, LinkState.DELETED, hq_id=None, user=link.hq_parent_id, written=None)(conn)
                    self._settled(conn, source_id)
                    self.counts.count(Outcome.DELETED, reason)

                return effect

            chunk.ops.append(delete)
        elif link.state is LinkState.PENDING and link.written:

            def settle(link: Link = link) -> Effect:
                found = self._finder(link.written["body"])(self.once.owned())
                if found is not None:
                    self.hq.delete_reporting(found["UserId"], found["Id"])
                return self._link(source_id, LinkState.DELETED, hq_id=None, user=link.hq_parent_id, written=None)

            chunk.settle.append(settle)

    def load(self, total: int, chunks: Iterator[tuple[list[PlannedRecord], dict[str, Link]]]) -> None:
        """Apply the plan chunk by chunk (``repo.plan_chunks``: one chunk's plans and links in memory)."""
        progress = Progress(f"load {self.tenant} reportings ({self.source})", total, logger=log)
        self.once.run_plan(chunks, self.decide, self._after_creates, progress)


def load_reportings(
    ctx: RunContext, hq: HqClient, sync_map: SyncMap, *, stats: dict[str, Any] | None = None, **loader_options: Any
) -> repo.EntityCounts:
    """Apply every planned reporting of one source/entity (default awork time entries); returns the counts.
    ``loader_options``: ``source``, ``entity``, ``label``, ``origin`` of ``ReportingLoader``. ``stats``
    (when given) receives the load's HQ requests and where its time went (``LoadTiming``)."""
    loader = ReportingLoader(ctx, hq, sync_map, **loader_options)
    before = hq.requests_sent
    with loader.timing.staging(), ctx.staging.connect() as conn:
        total = repo.count_plans(conn, ctx.tenant.id, loader.source, loader.entity)
        loader.open_items = repo.open_quarantine_ids(conn, ctx.tenant.id, loader.source, loader.entity, LOAD_REASONS)
    loader.load(total, repo.plan_chunks(ctx.staging, ctx.tenant.id, loader.source, loader.entity, DEFAULT_CHUNK))
    timing = loader.timing.as_dict()
    if stats is not None:
        stats.update(requests=hq.requests_sent - before, timing=timing, workers=loader.pool.workers)
    log.info(
        "load %s reportings: %s; %d HQ requests; %s",
        ctx.tenant.id,
        summary_line(loader.counts.as_dict()),
        hq.requests_sent - before,
        summary_line(timing),
    )
    return loader.counts


def plans_of(conn: Connection, tenant: str, entity: str, *, source: str = SOURCE) -> Any:
    """The planned HQ state of one source's entity (default awork), by source id: the pipelines'
    name for ``repository.planned_records``. Typed ``Any`` as it always was, so that callers
    reading ``hq_parent_id`` as set keep type-checking; new code reads ``planned_records``."""
    return repo.planned_records(conn, tenant, source, entity)
