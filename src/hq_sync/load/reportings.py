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
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from hq_sync.clients.hq import HqClient, odata_literal
from hq_sync.clients.http import AmbiguousWriteError, ClientError
from hq_sync.load.tasks import SyncMap, resolve_reasons
from hq_sync.pipelines.context import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import planned_hq_state
from hq_sync.timeutil import parse_timestamp

log = logging.getLogger(__name__)

SOURCE = "awork"
ENTITY = "time_entry"
HQ_ENTITY = "Reporting"
CREATE_ATTEMPTS = 3
# Not wanted, but left as they are in HQ: before the sync start date, or their project was unlinked.
UNTOUCHED = ("before_sync_start", "project_unlinked")
LOAD_REASONS = ("hq_rejected", "billed_conflict")


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
    code = str((body.get("error") or {}).get("code") or "") if isinstance(body.get("error"), dict) else ""
    return code == "ReportingBilled" or "billed" in str(exc).lower()


class ReportingLoader:
    """Applies planned reportings of one source and entity (awork time entries by default; the
    timesheet import reuses it with ``source="timesheets"``). A plan body names its task either by
    ``TaskSyncId`` (looked up in ``sync_map``) or directly by ``TaskId`` (None: no task)."""

    def __init__(self, ctx: RunContext, hq: HqClient, sync_map: SyncMap, *, source: str = SOURCE,
                 entity: str = ENTITY, label: str = "time entry", origin: str = "awork") -> None:
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

    # -- bookkeeping -----------------------------------------------------------------------
    def _save(self, source_id: str, state: str, *, hq_id: str | None, user: str | None, written: Any) -> None:
        with self.ctx.staging.begin() as conn:
            repo.save_link(conn, tenant=self.tenant, source=self.source, entity=self.entity, source_id=source_id,
                           hq_entity=HQ_ENTITY, state=state, hq_id=hq_id, hq_parent_id=user, written=written)

    def _owned_ids(self) -> set[str]:
        with self.ctx.staging.connect() as conn:
            return repo.owned_hq_ids(conn, self.tenant, HQ_ENTITY)

    def _quarantine(self, source_id: str, reason: str, detail: str, context: dict[str, Any]) -> None:
        with self.ctx.staging.begin() as conn:
            repo.quarantine_record(conn, tenant=self.tenant, source=self.source, entity=self.entity, source_id=source_id,
                                   reason=reason, detail=detail, context=context, run_id=self.ctx.run_id)

    def _settled(self, source_id: str) -> None:
        with self.ctx.staging.begin() as conn:
            resolve_reasons(conn, tenant=self.tenant, source=self.source, entity=self.entity, source_id=source_id, reasons=LOAD_REASONS)

    def _billed_ids(self) -> set[int]:
        if self._billed is None:
            self._billed = self.hq.billed_reporting_ids()
        return self._billed

    def _conflict(self, source_id: str, link: repo.Link, what: str) -> None:
        self.counts.count("conflicts", "billed")
        self._quarantine(
            source_id, "billed_conflict",
            f"{self.label} {source_id} was {what} in {self.origin}, but its HQ reporting {link.hq_id} is already billed; "
            "HQ was left unchanged",
            {"hq_reporting_id": link.hq_id, "hq_user_id": link.hq_parent_id, "change": what,
             "booked": (link.written or {}).get("body")},
        )

    # -- HQ operations ---------------------------------------------------------------------
    def _find_unowned(self, body: dict[str, Any]) -> dict[str, Any] | None:
        owned = self._owned_ids()
        start = _instant(body["StartDate"])
        query = f"ProjectId eq {int(body['ProjectId'])}"
        if start is not None:
            query += f" and StartOn eq {odata_literal(start)}"
        for rep in self.hq.user_reportings(body["UserId"], filter=query):
            if str(rep.get("Id")) not in owned and same_reporting(rep, body):
                return rep
        return None

    def _create(self, source_id: str, body: dict[str, Any], settle_first: bool) -> str | None:
        create_body = {k: body[k] for k in ("UserId", "StartDate", "Duration", "TaskId", "Description")}
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            if settle_first or attempt > 1:
                found = self._find_unowned(body)
                if found is not None:
                    log.info("%s %s: adopted HQ reporting %s (an earlier create's answer was lost)", self.label, source_id, found["Id"])
                    return str(found["Id"])
            try:
                return str(self.hq.create_reporting(body["ProjectId"], create_body)["Id"])
            except AmbiguousWriteError as exc:
                log.warning("%s %s: create outcome unknown (%s); checking HQ (attempt %d)", self.label, source_id, exc, attempt)
            except ClientError as exc:
                self._refused(source_id, body, exc)
                return None
        found = self._find_unowned(body)
        if found is not None:
            return str(found["Id"])
        raise AmbiguousWriteError(f"HQ create of the reporting of {self.label} {source_id} stayed ambiguous")

    def _refused(self, source_id: str, body: dict[str, Any], exc: ClientError) -> None:
        self._quarantine(source_id, "hq_rejected", f"HQ refused the reporting: {exc}",
                         {"hq_user_id": body.get("UserId"), "status": exc.status})
        self.counts.count("quarantined", "hq_rejected")

    def _delete(self, source_id: str, link: repo.Link, what: str) -> bool:
        """Delete the linked reporting; False (conflict counted) when HQ has billed it."""
        if link.hq_id and int(link.hq_id) in self._billed_ids():
            self._conflict(source_id, link, what)
            return False
        try:
            self.hq.delete_reporting(link.hq_parent_id, link.hq_id)  # 404 (already gone) is fine
        except ClientError as exc:
            if _is_billed_error(exc):
                self._conflict(source_id, link, what)
                return False
            raise
        return True

    # -- per record ------------------------------------------------------------------------
    def apply(self, plan: Any, link: repo.Link | None) -> None:
        source_id = plan.source_id
        if plan.plan == "quarantined":
            return  # counted by transform; an existing reporting stays as it is
        if plan.plan == "not_wanted":
            self._unwanted(plan, link)
            return
        body = dict(plan.body)
        awork_project = body.pop("AworkProjectId", None)
        task_sync = body.pop("TaskSyncId", None)
        if task_sync is not None:
            task_id = self.sync_map.get((int(body["ProjectId"]), str(task_sync)))
            if task_id is None:
                self.counts.count("skipped", "task_not_in_hq")
                return
            body["TaskId"] = task_id
        else:
            body["TaskId"] = body.get("TaskId")  # named directly (None: a reporting without task)
        written = {"body": body, "version": plan.version, "awork_project": awork_project}
        if plan.notes:  # where the record came from (e.g. timesheet file and line), for the audit
            written["origin"] = plan.notes
        user = str(body["UserId"])
        if link is not None and link.state == "synced" and link.hq_id:
            prev = (link.written or {}).get("body") or {}
            if prev == body:
                if link.written != written:
                    self._save(source_id, "synced", hq_id=link.hq_id, user=user, written=written)
                self._settled(source_id)
                self.counts.count("skipped", "unchanged")
                return
            if int(link.hq_id) in self._billed_ids():
                self._conflict(source_id, link, "changed")
                return
            if prev.get("UserId") == body["UserId"] and prev.get("ProjectId") == body["ProjectId"]:
                self._update(source_id, link, body, written)
                return
            # Another user or project: HQ cannot move a reporting, so delete + create.
            self._save(source_id, "pending", hq_id=link.hq_id, user=link.hq_parent_id, written=written)
            if not self._delete(source_id, link, "moved"):
                self._save(source_id, "synced", hq_id=link.hq_id, user=link.hq_parent_id, written=link.written)
                return
            self._save(source_id, "pending", hq_id=None, user=user, written=written)
            hq_id = self._create(source_id, body, settle_first=False)
            if hq_id is not None:
                self._save(source_id, "synced", hq_id=hq_id, user=user, written=written)
                self._settled(source_id)
                self.counts.count("updated", "moved")
            return
        settle = link is not None and link.state == "pending"
        if settle and link is not None and link.hq_id:  # a delete of a move was under way
            self.hq.delete_reporting(link.hq_parent_id, link.hq_id)
        self._save(source_id, "pending", hq_id=None, user=user, written=written)
        hq_id = self._create(source_id, body, settle_first=settle)
        if hq_id is None:
            return
        self._save(source_id, "synced", hq_id=hq_id, user=user, written=written)
        self._settled(source_id)
        self.counts.count("created")

    def _update(self, source_id: str, link: repo.Link, body: dict[str, Any], written: dict[str, Any]) -> None:
        current = self.hq.reporting(link.hq_parent_id, link.hq_id)
        if current is None:  # deleted in HQ by hand: book it again
            self._save(source_id, "pending", hq_id=None, user=str(body["UserId"]), written=written)
            hq_id = self._create(source_id, body, settle_first=False)
            if hq_id is not None:
                self._save(source_id, "synced", hq_id=hq_id, user=str(body["UserId"]), written=written)
                self._settled(source_id)
                self.counts.count("created", "recreated")
            return
        changes = {"Note": body["Description"], "Duration": body["Duration"], "StartOn": body["StartDate"], "TaskId": body["TaskId"]}
        try:
            self.hq.update_reporting(current, changes)
        except ClientError as exc:
            if _is_billed_error(exc):
                self._conflict(source_id, link, "changed")
            else:
                self._refused(source_id, body, exc)
            return
        self._save(source_id, "synced", hq_id=link.hq_id, user=str(body["UserId"]), written=written)
        self._settled(source_id)
        self.counts.count("updated", "edited")

    def _unwanted(self, plan: Any, link: repo.Link | None) -> None:
        source_id = plan.source_id
        if plan.reason in UNTOUCHED or link is None or link.state == "deleted":
            return
        if link.hq_id:
            if not self._delete(source_id, link, "deleted" if plan.reason == "deleted_in_source" else "unlinked"):
                return
            self._save(source_id, "deleted", hq_id=None, user=link.hq_parent_id, written=None)
            self._settled(source_id)
            self.counts.count("deleted", plan.reason)
        elif link.state == "pending" and link.written:
            found = self._find_unowned(link.written["body"])
            if found is not None:
                self.hq.delete_reporting(found["UserId"], found["Id"])
            self._save(source_id, "deleted", hq_id=None, user=link.hq_parent_id, written=None)


def load_reportings(ctx: RunContext, hq: HqClient, sync_map: SyncMap, **loader_options: Any) -> repo.EntityCounts:
    """Apply every planned reporting of one source/entity (default awork time entries); returns the counts.
    ``loader_options``: ``source``, ``entity``, ``label``, ``origin`` of ``ReportingLoader``."""
    loader = ReportingLoader(ctx, hq, sync_map, **loader_options)
    with ctx.staging.connect() as conn:
        plans = list(plans_of(conn, ctx.tenant.id, loader.entity, source=loader.source))
        links = {l.source_id: l for l in repo.links(conn, ctx.tenant.id, loader.source, loader.entity)}
    for plan in plans:
        loader.apply(plan, links.get(plan.source_id))
    return loader.counts


def plans_of(conn: Connection, tenant: str, entity: str, *, source: str = SOURCE) -> Any:
    """The planned HQ state of one source's entity, by source id."""
    t = planned_hq_state
    return conn.execute(
        select(t).where(t.c.tenant == tenant, t.c.source == source, t.c.entity == entity).order_by(t.c.source_id)
    ).all()
