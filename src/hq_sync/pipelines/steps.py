"""The five steps every sync DAG wires: extract → reconcile_deletions → transform → load → report.

``extract`` reads the source page by page and stages each page (raw payload + typed columns) as it
arrives, so memory stays flat; ``reconcile_deletions`` is the rest of staging (records that vanished
from the source, confirmed one by one); ``transform`` maps staged records to the HQ state we want
(or to quarantine); ``load`` writes the difference to HQ; ``report`` stores and shows the run's
counts (product.md D4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hq_sync.kinds import KINDS, SYNC_STEPS

if TYPE_CHECKING:  # the DAG factory imports this module at parse time: staging loads only when a step runs
    from hq_sync.run import RunContext
    from hq_sync.staging import repository as repo

log = logging.getLogger(__name__)

STEP_NAMES = SYNC_STEPS
Step = Callable[..., dict[str, Any]]


def record_report(ctx: RunContext, counts_by_entity: dict[str, repo.EntityCounts]) -> dict[str, Any]:
    """Store a run's counts per entity and return them (the report step's XCom)."""
    from hq_sync.staging import ensure_schema
    from hq_sync.staging import repository as repo

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
    for entity, entity_counts in summary.items():
        log.info("%s %s: %s", ctx.tenant.id, entity, report_line(entity_counts))
    return {"tenant": ctx.tenant.id, "run_id": ctx.run_id, "entities": summary}


def report_line(counts: dict[str, Any]) -> str:
    """One entity's counts as a line a person reads in the log view (issue 15), each count with its
    reasons: ``created=12 skipped=3 (before_sync_start=3) quarantined=2 (unknown_email=2)``."""
    from hq_sync.progress import summary_line
    from hq_sync.staging.states import COUNT_FIELDS

    details = dict(counts.get("details") or {})
    parts = []
    for key in COUNT_FIELDS:
        if not counts.get(key):
            continue
        reasons = details.pop(key, None)
        why = f" ({summary_line(reasons)})" if isinstance(reasons, dict) and reasons else ""
        parts.append(f"{key}={counts[key]}{why}")
    if details:
        parts.append(summary_line(details))
    return " ".join(parts) or "nothing to do"


# Per DAG kind: the module holding its steps, and the steps in order (each a task); from the registry.
PIPELINES: dict[str, tuple[str, tuple[str, ...]]] = {kind.id: (kind.module, kind.step_names) for kind in KINDS.values()}


def step_names(kind: str) -> tuple[str, ...]:
    return KINDS[kind].step_names


def steps_for(kind: str) -> dict[str, Step]:
    """The step functions of a DAG kind, by step name (imported when a task needs them)."""
    import importlib

    module = importlib.import_module(KINDS[kind].module)
    return {name: getattr(module, name) for name in KINDS[kind].step_names}
