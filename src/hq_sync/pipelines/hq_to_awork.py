"""HQ → awork (product.md A2–A4): projects every 15 minutes, offers on demand.

DAG ``hq_to_awork__<tenant>``: ``sync_projects`` → ``report``. DAG ``hq_offer_to_awork__<tenant>``
(triggered by hand with the offer number): ``sync_offer`` → ``report``.

Every awork create goes through the loaders' one mechanism (``hq_sync.load.exactly_once``): a
``pending`` link with the intended object is saved *before* the create is sent; a pending link
(crash, lost answer) is settled by looking in awork for an object of that name that no link owns,
and adopting it. So an HQ project
never gets two awork projects, and an offer run twice creates nothing new.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from hq_sync.clients.awork import AworkClient
from hq_sync.clients.hq import HqClient
from hq_sync.load.concurrency import WritePool
from hq_sync.load.exactly_once import Create, ExactlyOnce, LinkSpec, awork_id_of
from hq_sync.pipelines.steps import record_report
from hq_sync.run import RunContext
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging.states import COUNT_FIELDS, Outcome
from hq_sync.transform.offers import PlannedTask, plan_offer
from hq_sync.transform.reportings import InvalidLink, parse_awork_link

log = logging.getLogger(__name__)

SOURCE = "hq"
CREATE_FLAG = "awork-Projekt anlegen"


class _Fields(dict[str, Any]):
    """A project's custom-field values by name, looked up in any case (HQ may ignore case, issue #10)."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.strip().casefold(), default)


def _fields(project: dict[str, Any]) -> _Fields:
    return _Fields(
        {str(f.get("Name") or "").strip().casefold(): f.get("Value") for f in project.get("CustomFields") or []}
    )


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "ja")


class AworkWriter:
    """Creates awork objects for HQ records exactly once (pending link → create or adopt)."""

    def __init__(self, ctx: RunContext, awork: AworkClient) -> None:
        self.ctx = ctx
        self.awork = awork
        self.pool = WritePool(1)  # one create at a time: a task list's id is needed for its tasks

    def link(self, entity: str, source_id: str) -> repo.Link | None:
        with self.ctx.staging.connect() as conn:
            return repo.get_link(conn, self.ctx.tenant.id, SOURCE, entity, source_id)

    def ensure(
        self,
        entity: str,
        source_id: str,
        written: dict[str, Any],
        find: Callable[[set[str]], dict[str, Any] | None],
        create: Callable[[], dict[str, Any]],
        parent: str | None = None,
    ) -> tuple[str, bool]:
        """The awork id for an HQ record, creating the object once (``hq_sync.load.exactly_once``):
        a synced link is returned as it is, a pending one is settled first; returns (id, created now)."""
        once = ExactlyOnce(
            self.ctx.staging,
            LinkSpec(self.ctx.tenant.id, SOURCE, entity, f"awork_{entity}", id_of=awork_id_of),
            self.pool,
        )
        return once.ensure(
            Create(source_id=source_id, written=written, send=create, find=find, parent=parent, label=entity),
            self.link(entity, source_id),
        )


def _link_value(ctx: RunContext, awork_project_id: str) -> str:
    cfg = ctx.tenant.sources.hq_to_awork
    base = (cfg.workspace_url if cfg else None) or ""
    return f"{base.rstrip('/')}/projects/{awork_project_id}" if base else awork_project_id


def sync_projects(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """A2/A3: give flagged HQ projects an awork project, and check existing links."""
    ensure_schema(ctx.staging)
    clients = ctx.require_clients()
    hq: HqClient = clients.hq()
    awork: AworkClient = clients.awork()
    cfg = ctx.tenant.sources.hq_to_awork
    assert cfg is not None
    writer = AworkWriter(ctx, awork)
    counts = repo.EntityCounts()
    link_field = hq.custom_field_definition_id(cfg.link_field)
    if link_field is None:
        raise RuntimeError(
            "HQ has no project custom field 'awork Link'; an HQ admin must create it (Admin → Datenfelder)"
        )
    hq_companies = {c["Id"]: str(c.get("Name") or "").strip() for c in hq.companies()}
    awork_companies = _awork_companies(awork)
    awork_projects = {str(p["id"]): p for page in awork.projects() for p in page}

    for project in hq.projects_with_fields():
        fields = _fields(project)
        source_id = str(project["Id"])
        link = (fields.get(cfg.link_field) or "").strip()
        if link:  # A3: linked, by us earlier or by hand: honoured as it is, but checked
            _check_link(ctx, project, link, awork_projects, counts)
            continue
        if not _truthy(fields.get(CREATE_FLAG)):
            continue
        body = _project_body(
            project, cfg.prefix_project_number, hq_companies.get(project.get("CompanyId")), awork_companies, counts
        )
        name = body["name"]

        def find(owned: set[str], name: str = name) -> dict[str, Any] | None:
            for page in awork.projects():
                for candidate in page:
                    if candidate.get("name") == name and str(candidate["id"]) not in owned:
                        return candidate
            return None

        awork_id, created = writer.ensure(
            "project", source_id, body, find, functools.partial(awork.create_project, body)
        )
        hq.set_project_custom_field(project["Id"], link_field, _link_value(ctx, awork_id))
        _resolved(ctx, source_id)
        counts.count(Outcome.CREATED if created else Outcome.UPDATED, None if created else "link_written")
    return {"project": counts.as_dict()}


def _awork_companies(awork: AworkClient) -> dict[str, list[str]]:
    """awork company ids by (trimmed) name."""
    companies: dict[str, list[str]] = {}
    for page in awork.companies():
        for company in page:
            companies.setdefault(str(company.get("name") or "").strip(), []).append(str(company["id"]))
    return companies


def _check_link(
    ctx: RunContext, project: dict[str, Any], link: str, awork_projects: dict[str, Any], counts: repo.EntityCounts
) -> None:
    """A3: an HQ project's awork Link is honoured as it is, but checked (malformed, dead)."""
    source_id = str(project["Id"])
    try:
        awork_id = parse_awork_link(link)
    except InvalidLink as exc:
        counts.count(Outcome.QUARANTINED, "malformed_link")
        _report(ctx, source_id, "malformed_link", f"HQ project {project['Name']!r}: {exc}")
        return
    if awork_id not in awork_projects:
        counts.count(Outcome.QUARANTINED, "dead_link")
        detail = (
            f"HQ project {project['Name']!r} links to awork project {awork_id}, which does not exist "
            "(or this connection cannot see it)"
        )
        _report(ctx, source_id, "dead_link", detail)
        return
    _resolved(ctx, source_id)
    counts.count(Outcome.SKIPPED, "already_linked")


def _project_body(
    project: dict[str, Any],
    prefix_number: bool,
    customer: str | None,
    awork_companies: dict[str, list[str]],
    counts: repo.EntityCounts,
) -> dict[str, Any]:
    """The awork project for a flagged HQ project: its name (with the number, if so configured) and
    the awork company of the same name as its customer (only when exactly one matches; reported)."""
    name = f"{project['Number']} {project['Name']}" if prefix_number and project.get("Number") else str(project["Name"])
    body: dict[str, Any] = {"name": name, "isBillableByDefault": True}
    matches = awork_companies.get(customer or "", [])
    if customer and len(matches) == 1:
        body["companyId"] = matches[0]
    elif customer:  # no fuzzy guesses: created without customer, and reported
        reported = counts.details.setdefault("reported", {})
        reported["customer_not_matched"] = reported.get("customer_not_matched", 0) + 1
        log.info(
            "HQ project %s: customer %r has %d matches in awork; created without customer",
            project["Name"],
            customer,
            len(matches),
        )
    return body


def _report(ctx: RunContext, source_id: str, reason: str, detail: str) -> None:
    with ctx.staging.begin() as conn:
        repo.quarantine_record(
            conn,
            tenant=ctx.tenant.id,
            source=SOURCE,
            entity="project",
            source_id=source_id,
            reason=reason,
            detail=detail,
            run_id=ctx.run_id,
        )


def _resolved(ctx: RunContext, source_id: str) -> None:
    with ctx.staging.begin() as conn:
        repo.resolve_quarantine(conn, tenant=ctx.tenant.id, source=SOURCE, entity="project", source_id=source_id)


def _awork_project_for_offer(
    hq: HqClient, awork: AworkClient, offer: dict[str, Any], override: str | None
) -> tuple[str, str]:
    """(awork project id, how it was chosen): the override, the HQ project's link, else the same name."""
    projects = {str(p["id"]): p for page in awork.projects() for p in page}
    if override:
        for pid, project in projects.items():
            if override in (pid, project.get("name")):
                return pid, "chosen in the trigger form"
        candidates = sorted((p.get("name") for p in projects.values()), key=str)
        raise ValueError(f"awork project {override!r} not found; candidates: {candidates}")
    hq_project = next((p for p in hq.projects_with_fields() if p["Id"] == offer.get("ProjectId")), None)
    if hq_project is None:
        raise ValueError(f"offer {offer.get('Number')} has no HQ project; choose the awork project in the trigger form")
    link = (_fields(hq_project).get("awork Link") or "").strip()
    if link:
        pid = parse_awork_link(link)
        if pid in projects:
            return pid, f"linked to HQ project {hq_project['Name']!r}"
    same = [pid for pid, p in projects.items() if p.get("name") == hq_project["Name"]]
    if len(same) == 1:
        return same[0], f"same name as HQ project {hq_project['Name']!r}"
    names = sorted((p.get("name") for p in projects.values()), key=str)
    raise ValueError(
        f"no awork project for offer {offer.get('Number')}: HQ project {hq_project['Name']!r} is not linked and "
        f"{len(same)} awork projects have its name; choose one in the trigger form: {names}"
    )


def sync_offer(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """A4: the chosen offer's groups become task lists, its positions tasks (once)."""
    ensure_schema(ctx.staging)
    number = str(ctx.params.get("offer_number") or "").strip()
    if not number:
        raise ValueError('trigger this DAG with the offer number: configuration JSON {"offer_number": "<number>"}')
    clients = ctx.require_clients()
    hq: HqClient = clients.hq()
    awork: AworkClient = clients.awork()
    offer = hq.quotation_by_number(number)
    if offer is None:
        raise ValueError(f"HQ has no offer with number {number!r}")
    override = (ctx.params.get("awork_project") or "").strip() or None
    project_id, chosen = _awork_project_for_offer(hq, awork, offer, override)
    plan = plan_offer(list(offer.get("Positions") or []))
    type_of_work = _type_of_work(ctx, awork)
    writer = OfferWriter(AworkWriter(ctx, awork), awork, project_id, str(offer["Id"]), type_of_work["id"])
    for planned_list in plan.lists:
        list_id = writer.ensure_list(planned_list.key, planned_list.name)
        for task in planned_list.tasks:
            writer.ensure_task(task, list_id)
    for task in plan.loose_tasks:
        writer.ensure_task(task, None)
    for reason in plan.skipped:
        writer.counts["task"].count(Outcome.SKIPPED, "no_text")
        log.info("offer %s: %s", number, reason)
    log.info("offer %s → awork project %s (%s)", number, project_id, chosen)
    return {
        "offer": number,
        "awork_project": project_id,
        "chosen": chosen,
        "type_of_work": type_of_work["name"],
        **{k: v.as_dict() for k, v in writer.counts.items()},
    }


def _first_named(pages: Iterable[list[dict[str, Any]]], name: str, owned: set[str]) -> dict[str, Any] | None:
    """The first listed object called ``name`` that no link owns (an object our lost create made)."""
    return next((o for page in pages for o in page if o.get("name") == name and str(o["id"]) not in owned), None)


class OfferWriter:
    """Creates an offer's task lists and tasks in one awork project, each exactly once."""

    def __init__(
        self, writer: AworkWriter, awork: AworkClient, project_id: str, offer_key: str, type_of_work: Any
    ) -> None:
        self.writer, self.awork, self.project_id = writer, awork, project_id
        self.offer_key, self.type_of_work = offer_key, type_of_work
        self.counts = {"task_list": repo.EntityCounts(), "task": repo.EntityCounts()}

    def ensure_list(self, key: str, name: str) -> str:
        awork, project_id = self.awork, self.project_id
        list_id, created = self.writer.ensure(
            "offer_group",
            f"{self.offer_key}:{key}",
            {"name": name},
            lambda owned: _first_named(awork.task_lists(project_id), name, owned),
            lambda: awork.create_task_list(project_id, {"name": name}),
            parent=project_id,
        )
        self.counts["task_list"].count(Outcome.CREATED if created else Outcome.SKIPPED, None if created else "exists")
        return list_id

    def ensure_task(self, task: PlannedTask, list_id: str | None) -> None:
        awork, project_id = self.awork, self.project_id
        body: dict[str, Any] = {
            "name": task.name,
            "baseType": "projecttask",
            "entityId": project_id,
            "typeOfWorkId": self.type_of_work,
        }
        if task.planned_duration is not None:
            body["plannedDuration"] = task.planned_duration
        if list_id is not None:
            body["lists"] = [{"id": list_id}]
        _, created = self.writer.ensure(
            "offer_position",
            f"{self.offer_key}:{task.key}",
            body,
            lambda owned: _first_named(awork.project_tasks(project_id), task.name, owned),
            lambda: awork.create_task(body),
            parent=project_id,
        )
        self.counts["task"].count(Outcome.CREATED if created else Outcome.SKIPPED, None if created else "exists")


def _type_of_work(ctx: RunContext, awork: AworkClient) -> dict[str, Any]:
    """The awork type of work for tasks from offers: the configured one, else the first by name."""
    cfg = ctx.tenant.sources.hq_to_awork
    wanted = cfg.offer_type_of_work if cfg else None
    types = sorted((t for page in awork.types_of_work() for t in page), key=lambda t: str(t.get("name", "")).casefold())
    if wanted:
        match = [t for t in types if str(t.get("name", "")).strip().casefold() == wanted.strip().casefold()]
        if not match:
            names = [t.get("name") for t in types]
            raise ValueError(
                f"awork has no type of work {wanted!r} (sources.hq_to_awork.offer_type_of_work); it has {names}"
            )
        return match[0]
    if not types:
        raise ValueError("the awork workspace has no type of work; awork needs one for every task")
    return types[0]


def report(ctx: RunContext, *, step_results: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Store and show what the run did, per entity."""
    counts: dict[str, repo.EntityCounts] = {}
    for result in (step_results or {}).values():
        for entity, value in (result or {}).items():
            if isinstance(value, dict) and "created" in value:
                c = repo.EntityCounts(**{k: value.get(k, 0) for k in COUNT_FIELDS})
                c.details = dict(value.get("details") or {})
                counts[entity] = c
    return record_report(ctx, counts)
