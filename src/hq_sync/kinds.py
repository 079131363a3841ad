"""The one registry of pipeline kinds: every kind of generated DAG, and the systems they talk to.

A *kind* is one DAG per tenant (``<dag_id_prefix>__<tenant>``): its title, the tenant setting it
comes with, the pipeline module holding its steps, each step's external system (which decides the
Airflow pool it runs in), its default schedule and whether a backfill can replay it. A *system* is
an external API: its default base URL and its Airflow pool.

Everything that lists kinds or systems reads them here: the tenant configuration
(``hq_sync.config``: ``SOURCES``, ``DAG_ID_PREFIX``, ``BACKFILL_KINDS``, the default schedules), the
pipelines (``hq_sync.pipelines.steps``), the Airflow layer (``hq_sync.airflow.dag_factory``: pools,
titles, task lists; ``hq_sync.airflow.hooks``: base URLs) and the status page plugin. A new kind is
one entry in ``KINDS`` plus its DAG builder in the DAG factory.

Plain data and the standard library only: the lowest tier (tests/test_architecture.py), so that
every package may read it, and cheap to import while Airflow parses the DAG files.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_POOL = "default_pool"  # Airflow's own pool: steps that only use the staging database


@dataclass(frozen=True)
class System:
    """An external API the sync talks to."""

    id: str  # "hq", "awork", "personio"; also the connection prefix (``<id>_<tenant>``)
    default_base_url: str  # used when the connection's host is empty
    pool: str  # the Airflow pool of the steps that call it
    pool_slots: int  # that pool's default size (tools/demo.py, the compose file create it)


SYSTEMS: dict[str, System] = {
    system.id: system
    for system in (
        System("personio", "https://api.personio.de", "personio_api", 4),
        System("awork", "https://api.awork.com/api/v1", "awork_api", 4),
        System("hq", "https://api.hellohq.io/v1", "hq_api", 8),
    )
}


@dataclass(frozen=True)
class Step:
    """One task of a kind's DAG: the pipeline function ``name`` and the system it calls, if any."""

    name: str
    system: str | None = None  # None: staging database or local files only

    @property
    def pool(self) -> str:
        return SYSTEMS[self.system].pool if self.system else DEFAULT_POOL


@dataclass(frozen=True)
class Kind:
    """One kind of generated DAG (see the module's doc)."""

    id: str  # "personio", "awork", "hq_to_awork", …: the kind's name everywhere (task args, run locks, staging)
    dag_id_prefix: str  # DAG id ``<prefix>__<tenant>``
    title: str  # the DAG's display name is ``<title>: <tenant display name>``
    summary: str  # what it syncs, for the DAG's doc
    module: str  # the pipeline module holding the step functions
    steps: tuple[Step, ...]
    setting: str | None  # the tenant's ``sources.<setting>`` that enables it (None: the tenant's ``audit``)
    systems: tuple[str, ...]  # the systems it talks to
    connection: str | None = None  # a source kind: the system whose connection holds its credentials
    default_schedule: str | None = None  # the cron when the tenant file sets none (None: not scheduled)
    backfill: bool = False  # read by date from ``sync_start_date``: a backfill can replay it (D2)

    @property
    def is_source(self) -> bool:
        """A tenant source (``sources.<id>`` in the tenant file), not a kind that comes with one."""
        return self.setting == self.id

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    def dag_id(self, tenant_id: str) -> str:
        return f"{self.dag_id_prefix}__{tenant_id}"


SYNC_STEPS = ("extract", "reconcile_deletions", "transform", "load", "report")


def _sync_steps(source: str) -> tuple[Step, ...]:
    """extract → reconcile_deletions (the source) → transform → load (HQ) → report."""
    systems = {"extract": source, "reconcile_deletions": source, "load": "hq"}
    return tuple(Step(name, systems.get(name)) for name in SYNC_STEPS)


KINDS: dict[str, Kind] = {
    kind.id: kind
    for kind in (
        Kind(
            "personio",
            "personio_absences",
            "Personio absences → HQ",
            "absences from Personio into HQ (product.md B1–B7)",
            "hq_sync.pipelines.personio_absences",
            _sync_steps("personio"),
            setting="personio",
            systems=("personio", "hq"),
            connection="personio",
            default_schedule="0 */3 * * *",  # product.md B2: every three hours
            backfill=True,
        ),
        Kind(
            "awork",
            "awork_times",
            "awork times → HQ",
            "awork time entries into HQ reportings, tasks and phases (A5–A9)",
            "hq_sync.pipelines.awork_times",
            _sync_steps("awork"),
            setting="awork",
            systems=("awork", "hq"),
            connection="awork",
            default_schedule="0 * * * *",  # hourly
            backfill=True,
        ),
        Kind(
            "hq_to_awork",
            "hq_to_awork",
            "HQ projects → awork",
            "HQ projects flagged 'awork-Projekt anlegen' into awork projects (A2, A3)",
            "hq_sync.pipelines.hq_to_awork",
            (Step("sync_projects", "awork"), Step("report")),
            setting="hq_to_awork",
            systems=("hq", "awork"),
            connection="awork",  # HQ → awork writes with the awork connection
            default_schedule="*/15 * * * *",
        ),
        Kind(
            "hq_offer",
            "hq_offer_to_awork",
            "HQ offer → awork tasks",
            "one HQ offer's groups and positions into awork task lists and tasks (A4)",
            "hq_sync.pipelines.hq_to_awork",
            (Step("sync_offer", "awork"), Step("report")),
            setting="hq_to_awork",  # manual: one offer → awork task lists and tasks, comes with hq_to_awork
            systems=("hq", "awork"),
        ),
        Kind(
            "timesheets",
            "timesheet_import",
            "Timesheet → HQ",
            "one timesheet file into HQ reportings (C1, docs/timesheets.md)",
            "hq_sync.pipelines.timesheets",
            (Step("read"), Step("transform", "hq"), Step("load", "hq"), Step("report")),
            setting="timesheets",  # one run per timesheet file
            systems=("hq",),
        ),
        Kind(
            "timesheets_inbox",
            "timesheets_inbox",
            "Timesheets arrived",
            "one timesheet import run per file that arrived in the tenant's folder (C1)",
            "hq_sync.pipelines.timesheets",
            (Step("dispatch"),),
            setting="timesheets",  # asset-triggered: a file arrived → one import run per file
            systems=(),
        ),
        Kind(
            "audit",
            "audit",
            "Drift audit",
            "nothing: it compares the sources' hours and absence days with HQ and explains the drift (F2)",
            "hq_sync.pipelines.audit",
            (Step("compare", "hq"), Step("verdict")),
            setting=None,  # daily, for the tenants whose audit is on
            systems=("hq", "awork", "personio"),
            default_schedule="30 5 * * *",
        ),
    )
}

# The tenant sources, in the order the status page and the tenant file list them.
SOURCES: tuple[str, ...] = tuple(kind.id for kind in KINDS.values() if kind.is_source)
DAG_ID_PREFIX: dict[str, str] = {kind.id: kind.dag_id_prefix for kind in KINDS.values()}
# The kinds a backfill can replay (D2); the others read the current state (hq_to_awork, audit) or
# run once per offer or file (hq_offer, timesheets, timesheets_inbox): nothing to replay by date.
BACKFILL_KINDS: tuple[str, ...] = tuple(kind.id for kind in KINDS.values() if kind.backfill)


def kind_of_dag_id(dag_id: str, kinds: tuple[str, ...] | None = None) -> tuple[Kind, str] | None:
    """The kind (among ``kinds``, default all) and tenant id of a generated DAG id, or None."""
    for kind in KINDS.values():
        if kinds is not None and kind.id not in kinds:
            continue
        prefix = kind.dag_id_prefix + "__"
        if dag_id.startswith(prefix):
            return kind, dag_id.removeprefix(prefix)
    return None
