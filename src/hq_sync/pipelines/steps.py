"""The five steps every sync DAG wires: extract → reconcile_deletions → transform → load → report.

``extract`` reads the source page by page and stages each page (raw payload + typed columns) as it
arrives, so memory stays flat; ``reconcile_deletions`` is the rest of staging (records that vanished
from the source, confirmed one by one); ``transform`` maps staged records to the HQ state we want
(or to quarantine); ``load`` writes the difference to HQ; ``report`` stores and shows the run's
counts (product.md D4).

Until a source's pipeline lands, its steps come from ``PendingPipeline``: they do nothing but say
so in the task log and in the run summary, so a run is honest about what it did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hq_sync.pipelines.context import RunContext
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo

log = logging.getLogger(__name__)

STEP_NAMES = ("extract", "reconcile_deletions", "transform", "load", "report")
Step = Callable[..., dict[str, Any]]


def record_report(ctx: RunContext, counts_by_entity: dict[str, repo.EntityCounts]) -> dict[str, Any]:
    """Store a run's counts per entity and return them (the report step's XCom)."""
    ensure_schema(ctx.staging)
    with ctx.staging.begin() as conn:
        for entity, counts in counts_by_entity.items():
            repo.record_run_summary(
                conn,
                tenant=ctx.tenant.id,
                source=ctx.source,
                dag_id=ctx.dag_id,
                run_id=ctx.run_id,
                entity=entity,
                counts=counts,
            )
    summary = {entity: counts.as_dict() for entity, counts in counts_by_entity.items()}
    for entity, counts in summary.items():
        log.info(
            "%s %s: created=%d updated=%d deleted=%d skipped=%d quarantined=%d conflicts=%d %s",
            ctx.tenant.id, entity, counts["created"], counts["updated"], counts["deleted"],
            counts["skipped"], counts["quarantined"], counts["conflicts"], counts["details"] or "",
        )
    return {"tenant": ctx.tenant.id, "run_id": ctx.run_id, "entities": summary}


class PendingPipeline:
    """Steps of a pipeline that is not built yet: they run, change nothing, and say so."""

    def __init__(self, source: str, issue: str, entities: tuple[str, ...]) -> None:
        self.source = source
        self.issue = issue
        self.entities = entities

    def _noop(self, step: str) -> Step:
        def run(ctx: RunContext, **_: Any) -> dict[str, Any]:
            log.warning(
                "%s for tenant %s: the %s pipeline is not implemented yet (%s); nothing was read "
                "or written.", step, ctx.tenant.id, self.source, self.issue,
            )
            return {"step": step, "implemented": False, "issue": self.issue}

        run.__name__ = step
        return run

    def steps(self) -> dict[str, Step]:
        steps = {name: self._noop(name) for name in STEP_NAMES[:-1]}

        def report(ctx: RunContext, **_: Any) -> dict[str, Any]:
            counts = {entity: repo.EntityCounts() for entity in self.entities}
            for c in counts.values():
                c.details["not_implemented"] = {self.issue: 1}
            return record_report(ctx, counts)

        steps["report"] = report
        return steps


PENDING: dict[str, PendingPipeline] = {
    "awork": PendingPipeline("awork", "issue #5", ("reporting", "task", "phase")),
}


def steps_for(source: str) -> dict[str, Step]:
    """The step functions of a source's pipeline, by step name."""
    if source == "personio":
        from hq_sync.pipelines import personio_absences as module

        return {name: getattr(module, name) for name in STEP_NAMES}
    return PENDING[source].steps()
