"""Make HQ's phases and tasks of linked projects match the plan (product.md A5/A6).

Every phase and task we manage carries a ``SyncId`` in HQ (phases ``awork-list:<list id>`` or
``awork-times:<project id>``, tasks the awork task id). Each run reads the project's tasks once,
finds ours by ``SyncId`` and creates, renames or moves them: a renamed awork task is renamed in
HQ, never duplicated. A create whose answer was lost is settled by looking the ``SyncId`` up
again before re-sending (``hq_sync.load.exactly_once``), so creates are idempotent. Phases and
tasks are never deleted (HQ refuses to delete tasks with reportings, and the hours stay where they
were booked).

What a phase or task was made to be is kept in its ``hq_links`` row (entity ``phase``/``task``,
``written`` = the plan's body, ``hq_id`` = the HQ task): a project whose planned phases and tasks
all equal what we wrote is not read again (``StructureLoader.unchanged``, issue #12) — like the
reporting and absence loaders, a no-change run compares the plan with what we wrote; a phase or
task changed in HQ behind the sync's back is drift, found by the audit (docs/audit.md).
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
from hq_sync.staging.states import LinkState, Outcome

log = logging.getLogger(__name__)

SOURCE = "awork"
HQ_ENTITY = "ProjectTask"
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
        self._links: dict[str, dict[str, repo.Link]] = {}  # the links of the project being loaded
        self._written: list[dict[str, Any]] = []  # its links to save

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
        if source_id not in self._open_items().get(entity, set()):
            return  # nothing to resolve: a run without problems commits nothing per phase or task
        with self.ctx.staging.begin() as conn:
            repo.resolve_quarantine(
                conn, tenant=self.tenant, source=SOURCE, entity=entity, source_id=source_id, reasons=("hq_rejected",)
            )

    def _open_items(self) -> dict[str, set[str]]:
        if self._open is None:  # records with an open hq_rejected item: read once per run
            with self.ctx.staging.connect() as conn:
                self._open = {
                    e: repo.open_quarantine_ids(conn, self.tenant, SOURCE, e, ("hq_rejected",))
                    for e in ("phase", "task")
                }
        return self._open

    def unchanged(self, project_id: int, phases: list[PlannedRecord], tasks: list[PlannedRecord]) -> bool:
        """True when every planned phase and task of the project is what we wrote (its link is
        synced, in this project, with the plan's body) and none has an open ``hq_rejected`` item:
        then the project is not read from HQ; its task ids come from the links and its phases and
        tasks count as skipped (unchanged), as a read would have found them. Otherwise (a change, a
        missing link) nothing is recorded and the caller loads the project (``load_project``)."""
        plans = [("phase", p) for p in phases] + [("task", t) for t in tasks]
        if not plans:
            return False
        open_items = self._open_items()
        with self.ctx.staging.connect() as conn:
            found = {
                e: repo.links_of(conn, self.tenant, SOURCE, e, [p.source_id for k, p in plans if k == e])
                for e in ("phase", "task")
            }
        known: SyncMap = {}
        for entity, plan in plans:
            link = found[entity].get(plan.source_id)
            hq_id = _written_id(link, project_id, plan)
            if plan.source_id in open_items.get(entity, set()) or hq_id is None:
                return False
            known[(project_id, str(plan.wanted_body()["SyncId"]))] = int(hq_id)
        self.sync_map.update(known)
        for entity, _ in plans:
            self.counts[entity].count(Outcome.SKIPPED, "unchanged")
        return True

    def load_project(self, project_id: int, phases: Iterable[PlannedRecord], tasks: Iterable[PlannedRecord]) -> None:
        phases, tasks = list(phases), list(tasks)
        with self.ctx.staging.connect() as conn:
            self._links = {
                "phase": repo.links_of(conn, self.tenant, SOURCE, "phase", [p.source_id for p in phases]),
                "task": repo.links_of(conn, self.tenant, SOURCE, "task", [t.source_id for t in tasks]),
            }
        self._written = []
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
        if self._written:  # what changed since our links: one transaction per project
            with self.ctx.staging.begin() as conn:
                repo.save_links(conn, self._written)

    def _wrote(self, entity: str, project_id: int, plan: PlannedRecord, hq_id: int) -> None:
        """Remember that HQ now holds the plan's phase or task (saved unless the link says so already)."""
        link = self._links.get(entity, {}).get(plan.source_id)
        if _written_id(link, project_id, plan) == str(hq_id):
            return
        self._written.append(
            {
                "tenant": self.tenant,
                "source": SOURCE,
                "entity": entity,
                "source_id": plan.source_id,
                "hq_entity": HQ_ENTITY,
                "state": LinkState.SYNCED,
                "hq_id": str(hq_id),
                "hq_parent_id": str(project_id),
                "written": plan.body,
            }
        )

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
        self._wrote(entity, project_id, plan, int(found["Id"]))
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


def _written_id(link: repo.Link | None, project_id: int, plan: PlannedRecord) -> str | None:
    """The HQ id of a phase or task whose link says HQ holds the plan's body in this project
    (synced); None when it does not (no link, another body or project, pending)."""
    if link is None or plan.body is None or link.state != LinkState.SYNCED:
        return None
    if link.hq_parent_id != str(project_id) or link.fingerprint != repo.written_fingerprint(plan.body):
        return None
    return None if link.hq_id is None else str(link.hq_id)
