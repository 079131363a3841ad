"""Make HQ's phases and tasks of linked projects match the plan (product.md A5/A6).

Every phase and task we manage carries a ``SyncId`` in HQ (phases ``awork-list:<list id>`` or
``awork-times:<project id>``, tasks the awork task id). Each run reads the project's tasks once,
finds ours by ``SyncId`` and creates, renames or moves them: a renamed awork task is renamed in
HQ, never duplicated. A create whose answer was lost is settled by looking the ``SyncId`` up
again before re-sending (``hq_sync.load.exactly_once``), so creates are idempotent. Phases and
tasks are never deleted (HQ refuses to delete tasks with reportings, and the hours stay where they
were booked).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hq_sync.clients.hq import HqClient, same_name
from hq_sync.clients.http import ClientError
from hq_sync.load.concurrency import WritePool
from hq_sync.load.exactly_once import Create, ExactlyOnce
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.repository import PlannedRecord
from hq_sync.staging.states import Outcome

log = logging.getLogger(__name__)

SOURCE = "awork"
SyncMap = dict[tuple[int, str], int]  # (HQ project id, SyncId) -> HQ task id


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, float) or isinstance(current, float):
        return current is None or wanted is None or abs(float(current) - float(wanted)) > 1e-6
    return bool(current != wanted)


class StructureLoader:
    def __init__(self, ctx: RunContext, hq: HqClient) -> None:
        self.ctx = ctx
        self.hq = hq
        self.tenant = ctx.tenant.id
        self.counts = {"phase": repo.EntityCounts(), "task": repo.EntityCounts()}
        self.sync_map: SyncMap = {}
        self.once = ExactlyOnce(ctx.staging, None, WritePool(1))
        self._open: dict[str, set[str]] | None = None

    def _quarantine(self, entity: str, source_id: str, exc: ClientError, context: dict[str, Any]) -> None:
        with self.ctx.staging.begin() as conn:
            repo.quarantine_record(
                conn,
                tenant=self.tenant,
                source=SOURCE,
                entity=entity,
                source_id=source_id,
                reason="hq_rejected",
                detail=f"HQ refused the {entity}: {exc}",
                context={**context, "status": exc.status},
                run_id=self.ctx.run_id,
            )
        self.counts[entity].count(Outcome.QUARANTINED, "hq_rejected")

    def _accepted(self, entity: str, source_id: str) -> None:
        if self._open is None:  # records with an open hq_rejected item: read once per run
            with self.ctx.staging.connect() as conn:
                self._open = {
                    e: repo.open_quarantine_ids(conn, self.tenant, SOURCE, e, ("hq_rejected",))
                    for e in ("phase", "task")
                }
        if source_id not in self._open.get(entity, set()):
            return  # nothing to resolve: a run without problems commits nothing per phase or task
        with self.ctx.staging.begin() as conn:
            repo.resolve_quarantine(
                conn, tenant=self.tenant, source=SOURCE, entity=entity, source_id=source_id, reasons=("hq_rejected",)
            )

    def load_project(self, project_id: int, phases: Iterable[PlannedRecord], tasks: Iterable[PlannedRecord]) -> None:
        existing = self.hq.project_tasks(project_id)
        by_sync: dict[str, dict[str, Any]] = {}
        for task in sorted(existing, key=lambda t: int(t["Id"])):
            if task.get("SyncId"):  # matched in any case: HQ may compare SyncIds either way (issue #10)
                by_sync.setdefault(str(task["SyncId"]).casefold(), task)
        for plan in phases:
            self._ensure("phase", project_id, plan, plan.wanted_body(), by_sync, existing)
        for plan in tasks:
            body = plan.wanted_body()
            parent_sync = body.pop("ParentSyncId")
            parent = self.sync_map.get((project_id, parent_sync))
            if parent is None:
                self.counts["task"].count(Outcome.SKIPPED, "phase_not_in_hq")
                continue
            body["ParentId"] = parent
            self._ensure("task", project_id, plan, body, by_sync, existing)

    def _ensure(
        self,
        entity: str,
        project_id: int,
        plan: PlannedRecord,
        body: dict[str, Any],
        by_sync: dict[str, dict[str, Any]],
        existing: list[dict[str, Any]],
    ) -> None:
        sync_id = str(body["SyncId"])
        wanted = {k: v for k, v in body.items() if v is not None or k == "ParentId"}
        found = by_sync.get(sync_id.casefold())
        if found is None and entity == "phase":
            # A phase of that name made by hand (or by the hosted integration) is adopted.
            found = next(
                (
                    t
                    for t in existing
                    if t.get("ParentId") is None
                    and not t.get("SyncId")
                    and str(t.get("Name") or "").strip() == body["Name"]
                ),
                None,
            )
        counts = self.counts[entity]
        try:
            if found is not None:
                changes = {
                    k: v
                    for k, v in wanted.items()
                    if _differs(found.get(k), v) and not (k == "SyncId" and same_name(found.get(k), v))
                }
                if changes:
                    if "TaskTypeId" in changes:
                        changes["TaskTypeStatusId"] = None  # HQ picks the new type's matching status
                    found = self.hq.update_project_task(found, changes)
                    counts.count(Outcome.UPDATED, "renamed" if "Name" in changes else "changed")
                else:
                    counts.count(Outcome.SKIPPED, "unchanged")
            else:
                found = self._create(project_id, sync_id, wanted)
                counts.count(Outcome.CREATED)
        except ClientError as exc:
            self._quarantine(entity, plan.source_id, exc, {"project_id": project_id, "sync_id": sync_id})
            return
        by_sync[sync_id.casefold()] = found
        self.sync_map[(project_id, sync_id)] = int(found["Id"])
        self._accepted(entity, plan.source_id)

    def _create(self, project_id: int, sync_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a phase or task exactly once (``ExactlyOnce``): its ``SyncId`` is the key a later
        attempt finds, so no pending link is needed."""

        def find(_excluded: set[str]) -> dict[str, Any] | None:
            found = self.hq.project_tasks_by_sync_id(project_id, sync_id)
            return min(found, key=lambda t: int(t["Id"])) if found else None

        [result] = self.once.run(
            [
                Create(
                    source_id=sync_id,
                    written=None,
                    label="task",
                    find=find,
                    send=lambda: self.hq.create_project_task(body),
                )
            ]
        )
        if result.refused is not None:
            raise result.refused
        assert result.obj is not None
        return result.obj
