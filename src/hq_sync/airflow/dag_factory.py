"""One DAG per enabled tenant and DAG kind, generated from ``include/tenants/*.yaml`` (product.md D1).

Parsing reads only the tenant files: no network, database or Variable access, and it imports
nothing but the configuration and the Airflow SDK (the task entry points below import the
pipelines when a task runs). It scales to hundreds of tenants (issue #11, docs/architecture.md
"Parsing at scale", ``tools/bench_parse.py``):

- **Kinds.** ``hq_sync.kinds.KINDS`` is the one registry of DAG kinds (DAG id prefix, title,
  steps and their pools, the tenant setting that enables it); ``BUILDERS`` holds the builder of each
  kind's DAG. A new kind is one registry entry plus one builder here.
- **Shards.** The tenants are spread over ``SHARDS`` DAG files (``dags/hq_sync_tenants_<n>.py``)
  by a stable hash of the tenant id, so the DAG processor parses them in parallel and no file
  grows past a fraction of the import timeout; a tenant's DAGs always live in the same file.
- **A task parses only its own DAG.** When a task runs, ``get_parsing_context().dag_id`` names its
  DAG: only that tenant's file is read and only that DAG is built (other shards build nothing).
- **Isolation.** A broken tenant file, or a tenant whose DAGs fail to build, becomes a
  ``tenant_config_error__<file>`` DAG whose doc and single failing task give the file, the field
  and the reason; all other tenants are unaffected.
- **Lean DAGs.** Declared ``Param``s cost Airflow a JSON-schema validation per task at every
  parse (≈ 4 ms per DAG, as much as the DAG itself): run options are ``dag_run.conf`` keys,
  named in the DAG's doc, instead.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, chain, get_parsing_context

from hq_sync.airflow import alerts
from hq_sync.airflow.run_lock import RUN_LOCK_TIMEOUT, RunLockSensor
from hq_sync.airflow.run_lock import poke_interval as run_lock_poke_interval
from hq_sync.config import TenantConfig, TenantFileError, dag_id_for, load_tenants
from hq_sync.config.tenants import AworkSource, FieldProblem, StaleTenant
from hq_sync.kinds import DEFAULT_POOL, KINDS, SYSTEMS, Kind
from hq_sync.settings import settings
from hq_sync.webhooks.assets import asset_name, asset_uri

log = logging.getLogger(__name__)

CONFIG_ERROR_PREFIX = "tenant_config_error"
# The Airflow pools of the external APIs and their default sizes (hq_sync.kinds.SYSTEMS).
DEFAULT_POOL_SLOTS = {system.pool: system.pool_slots for system in SYSTEMS.values()}

DEFAULT_ARGS = {
    "owner": "hq-sync",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}
# The first retry's delay in seconds, for every process that parses the DAG files (default 120;
# the distributed demo and its test use a few seconds so that a killed worker's task retries soon).
# ``HQ_SYNC_RETRY_DELAY_SECONDS`` (hq_sync.settings: a typo is logged and the default kept).
if (_retry_delay := settings().retry_delay_seconds) is not None:
    DEFAULT_ARGS["retry_delay"] = timedelta(seconds=_retry_delay)

HQ_TO_AWORK_START = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))  # no history to backfill: catchup is off

SHARDS = 8  # DAG files dags/hq_sync_tenants_0.py … _7.py (tests/dags check that they exist)
SLOW_TENANT_S = 1.0  # a tenant whose DAGs take longer than this to build is logged as slow


def shard_of(tenant_id: str) -> int:
    """The DAG file (0 … SHARDS-1) that holds a tenant's DAGs: a stable hash of its id."""
    return zlib.crc32(tenant_id.encode("utf-8")) % SHARDS


# Task entry points: the callables of the generated tasks. They import hq_sync.airflow.tasks (and
# with it clients, staging and pipelines) only when a task runs, never while a DAG file is parsed.
def run_step(source: str, step: str, tenant_id: str, **context: Any) -> dict[str, Any]:
    """Run one pipeline step (``hq_sync.airflow.tasks.run_step``); returns the step's summary."""
    from hq_sync.airflow import tasks

    return tasks.run_step(source, step, tenant_id, **context)


def release_run_lock(tenant_id: str, source: str, **context: Any) -> None:
    """The teardown of a source DAG: releases the run lock (also after a failed step)."""
    from hq_sync.airflow import run_lock

    run_lock.release(tenant_id, source, **context)


def fail_with_config_error(message: str) -> None:
    """The task of a config-error DAG: raises ``TenantConfigInvalid`` with the message."""
    from hq_sync.airflow import tasks

    tasks.fail_with_config_error(message)


def tenant_of_dag_id(dag_id: str) -> str | None:
    """The tenant id a generated DAG id belongs to, or None for foreign DAG ids."""
    for prefix in (*(kind.dag_id_prefix for kind in KINDS.values()), CONFIG_ERROR_PREFIX):
        if dag_id.startswith(prefix + "__"):
            return dag_id.removeprefix(prefix + "__")
    return None


def _doc_md(tenant: TenantConfig, source: str) -> str:
    cfg = tenant.synced_source(source)
    dag_id = tenant.dag_id(source)
    title, what = KINDS[source].title, KINDS[source].summary
    options = _source_options(tenant, source)
    return f"""### {title}: {tenant.display_name} (`{tenant.id}`)

Syncs {what}. Steps: `extract` (read the source page by page into staging) → `reconcile_deletions`
→ `transform` (map, or quarantine with a reason) → `load` (write the difference to HQ) → `report`
(the run's counts: open the `report` task's XCom or log).

- **Schedule:** `{cfg.schedule}` ({tenant.timezone}), data intervals from **{cfg.sync_start_date}**
- **Connections:** `{tenant.connection_id(source)}` ({source}), `{tenant.connection_id("hq")}` (HQ),
  `hq_sync_staging` (staging database, optional)
{options}- **Config file:** `include/tenants/{tenant.id}.yaml`

**Backfill** from the sync start date (idempotent; a second backfill changes nothing):

```
airflow backfill create --dag-id {dag_id} --from-date {cfg.sync_start_date} --to-date <today> --max-active-runs 1
```

or `python -m hq_sync.ops.backfill --tenant {tenant.id} --source {source}` (whole days in {tenant.timezone}, `--to`
inclusive; shows progress and why a run waits). **One run at a time:** every run first takes the run lock of
this tenant and source (`acquire_run_lock`); scheduled, manual, webhook and backfill runs wait for each other.

**Re-run a failed run:** Grid → select the run → *Clear* → "Only failed tasks". Every step can be
re-run: writes to HQ are keyed by the source record, so nothing is booked twice.
"""


def _source_options(tenant: TenantConfig, source: str) -> str:
    """The source's options in its DAG doc: phase mode, absence type overrides, webhooks."""
    cfg = tenant.synced_source(source)
    options = ""
    if isinstance(cfg, AworkSource):
        options = f"- **Phase mode:** `{cfg.phase_mode.value}` (A5/A6)\n"
    elif cfg.absence_type_mapping:
        overrides = ", ".join(f"{k}: {v}" for k, v in cfg.absence_type_mapping.items())
        options = f"- **Absence type overrides:** {overrides}\n"
    if source == "personio":
        options += (
            '- **Re-map past absences** (B4, opt-in): trigger with the configuration JSON `{"remap_past": true}`\n'
        )
    if cfg.webhooks.enabled:
        options += (
            f"- **Webhooks:** on: a {source} event starts a run at once (asset "
            f"`{asset_name(tenant.id, source)}`); polling `{cfg.effective_schedule}` is the safety net "
            "(docs/webhooks.md). A run started by events reads only the records they name, any other "
            'run polls; force one with the configuration JSON `{"run_mode": "events"}` or '
            '`{"run_mode": "full"}`\n'
        )
    return options


def source_schedule(tenant: TenantConfig, source: str) -> CronDataIntervalTimetable | AssetOrTimeSchedule:
    """The schedule of a tenant's source DAG: its cron; with webhooks on (issue #14) its polling
    cron **or** the tenant's webhook asset, so a vendor event starts a run at once."""
    cfg = tenant.synced_source(source)
    cron = CronDataIntervalTimetable(cfg.effective_schedule, timezone=tenant.timezone)
    if not cfg.webhooks.enabled:
        return cron
    asset = Asset(name=asset_name(tenant.id, source), uri=asset_uri(tenant.id, source), group="hq-sync-webhooks")
    return AssetOrTimeSchedule(timetable=cron, assets=asset)


def build_source_dag(tenant: TenantConfig, source: str) -> DAG:
    """The sync DAG of one tenant and source."""
    cfg = tenant.synced_source(source)
    tz = ZoneInfo(tenant.timezone)
    start = datetime(cfg.sync_start_date.year, cfg.sync_start_date.month, cfg.sync_start_date.day, tzinfo=tz)
    dag = DAG(
        dag_id=tenant.dag_id(source),
        dag_display_name=_display_name(source, tenant),
        description=f"{KINDS[source].title} for {tenant.display_name}",
        schedule=source_schedule(tenant, source),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["hq-sync", f"tenant:{tenant.id}", f"source:{source}"],
        doc_md=_doc_md(tenant, source),
        on_failure_callback=alerts.on_failure_callback(),  # off unless HQ_SYNC_ALERTS is set
    )
    with_run_lock(dag, tenant.id, source, _tasks(dag, KINDS[source], tenant))
    return dag


def with_run_lock(
    dag: DAG, tenant_id: str, source: str, steps: list[Any], *, poke_interval: float | None = None
) -> None:
    """Chain ``steps`` between ``acquire_run_lock`` (``RunLockSensor`` in reschedule mode: waits, saying why,
    while another run of the tenant and source holds the lock) and the teardown ``release_run_lock``,
    so that one run per tenant and source runs at any time, whatever started it (issue 15)."""
    kwargs = {"tenant_id": tenant_id, "source": source}
    lock = RunLockSensor(
        task_id="acquire_run_lock",
        dag=dag,
        tenant_id=tenant_id,
        source=source,
        mode="reschedule",
        poke_interval=poke_interval or run_lock_poke_interval(),
        timeout=RUN_LOCK_TIMEOUT.total_seconds(),
        pool=DEFAULT_POOL,
    )
    unlock = PythonOperator(
        task_id="release_run_lock", dag=dag, python_callable=release_run_lock, op_kwargs=kwargs, pool=DEFAULT_POOL
    )
    chain(lock, *steps, unlock.as_teardown(setups=lock))


def _tasks(dag: DAG, kind: Kind, tenant: TenantConfig) -> list[PythonOperator]:
    """One task per step of the kind (``hq_sync.kinds``), in the pool of the system it calls."""
    return [
        PythonOperator(
            task_id=step.name,
            dag=dag,
            python_callable=run_step,
            op_kwargs={"source": kind.id, "step": step.name, "tenant_id": tenant.id},
            pool=step.pool,
        )
        for step in kind.steps
    ]


def _display_name(kind: str, tenant: TenantConfig) -> str:
    return f"{KINDS[kind].title}: {tenant.display_name}"


def _hq_to_awork_common() -> dict[str, Any]:
    return {
        "catchup": False,
        "max_active_runs": 1,
        "start_date": HQ_TO_AWORK_START,
        "default_args": DEFAULT_ARGS,
        "on_failure_callback": alerts.on_failure_callback(),
    }


def build_hq_to_awork_dag(tenant: TenantConfig) -> DAG:
    """HQ projects → awork projects on a schedule (A2/A3)."""
    cfg = tenant.sources.hq_to_awork
    assert cfg is not None
    projects = DAG(
        dag_id=tenant.dag_id("hq_to_awork"),
        dag_display_name=_display_name("hq_to_awork", tenant),
        description=f"HQ projects → awork for {tenant.display_name}",
        schedule=CronDataIntervalTimetable(cfg.schedule, timezone=tenant.timezone),
        tags=["hq-sync", f"tenant:{tenant.id}", "source:hq_to_awork"],
        doc_md=f"""### HQ projects → awork: {tenant.display_name} (`{tenant.id}`)

Every HQ project with "awork-Projekt anlegen" set and an empty "{cfg.link_field}" gets an awork
project of the same name{" (prefixed with the HQ project number)" if cfg.prefix_project_number else ""};
its customer is set when a company of the same name (trimmed, exact) exists in both tools, and the
awork address is written back to "{cfg.link_field}" (A2). Links set by hand are honoured; a link to a
project that does not exist is reported (A3). Never two awork projects for one HQ project, also
when an answer is lost. Connections: `{tenant.connection_id("awork")}`, `{tenant.connection_id("hq")}`.
Schedule `{cfg.schedule}`. Counts: the `report` task's XCom.
""",
        **_hq_to_awork_common(),
    )
    chain(*_tasks(projects, KINDS["hq_to_awork"], tenant))
    return projects


def build_hq_offer_dag(tenant: TenantConfig) -> DAG:
    """One HQ offer → awork task lists and tasks, triggered by hand with its number (A4)."""
    offer = DAG(
        dag_id=tenant.dag_id("hq_offer"),
        dag_display_name=_display_name("hq_offer", tenant),
        description=f"One HQ offer → awork task lists and tasks for {tenant.display_name}",
        schedule=None,
        tags=["hq-sync", f"tenant:{tenant.id}", "source:hq_offer"],
        doc_md=f"""### HQ offer → awork tasks: {tenant.display_name} (`{tenant.id}`)

**Trigger** (Trigger → Advanced options → configuration JSON) with the offer number:
`{{"offer_number": "AN-2024-0042"}}`; optionally `"awork_project"`: an awork project's name or id
(default: the awork project linked to the offer's HQ project, else the one with the same name; the
run's log lists the candidates when none fits).

Group sums become awork task lists named like the group; single
positions become tasks in them (name from the position text without markup, planned duration from
the amount when its unit is hours or days of 8 h); positions outside any group become tasks
without a list (A4). Running it twice creates nothing new; positions added to the offer later are
added.
""",
        **_hq_to_awork_common(),
    )
    chain(*_tasks(offer, KINDS["hq_offer"], tenant))
    return offer


def build_hq_to_awork_dags(tenant: TenantConfig) -> list[DAG]:
    """HQ → awork: projects on a schedule (A2/A3), and one offer on demand (A4)."""
    return [build_hq_to_awork_dag(tenant), build_hq_offer_dag(tenant)]


# -- timesheets (C1, docs/timesheets.md) and the drift audit (F2, docs/audit.md) ------------------
TIMESHEET_START = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))  # event-driven: no history


def timesheet_asset(tenant: TenantConfig) -> Any:
    """The asset "a timesheet arrived in the tenant's folder", watched by the triggerer."""
    from airflow.sdk import Asset, AssetWatcher

    from hq_sync.airflow.triggers import TimesheetFolderTrigger
    from hq_sync.timesheets.files import folder_of

    cfg = tenant.sources.timesheets
    assert cfg is not None
    folder = folder_of(tenant)  # a path only: parsing reads nothing
    trigger = TimesheetFolderTrigger(directory=str(folder), tenant=tenant.id, poke_interval=cfg.poke_interval_s)
    return Asset(
        name=tenant.dag_id("timesheets_inbox"),
        uri=f"file://{folder.as_posix()}",
        group="hq-sync-timesheets",
        watchers=[AssetWatcher(name=f"timesheet_folder__{tenant.id}", trigger=trigger)],
    )


def _timesheet_common() -> dict[str, Any]:
    return {
        "start_date": TIMESHEET_START,
        "catchup": False,
        "default_args": DEFAULT_ARGS,
        "on_failure_callback": alerts.on_failure_callback(),
    }


def build_timesheets_inbox_dag(tenant: TenantConfig) -> DAG:
    """The asset-triggered dispatcher: one timesheet import run per file that arrived."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from hq_sync.timesheets.files import folder_of

    folder = folder_of(tenant)
    inbox = DAG(
        dag_id=tenant.dag_id("timesheets_inbox"),
        dag_display_name=_display_name("timesheets_inbox", tenant),
        description=f"Starts one timesheet import per file dropped into {folder}",
        schedule=[timesheet_asset(tenant)],
        max_active_runs=1,
        tags=["hq-sync", f"tenant:{tenant.id}", "source:timesheets"],
        doc_md=f"""### Timesheets arrived: {tenant.display_name} (`{tenant.id}`)

Triggered by the asset `{tenant.dag_id("timesheets_inbox")}`: the triggerer watches `{folder}` and
reports every file that stopped growing. `dispatch` archives each queued file and `start_import`
starts one run of `{tenant.dag_id("timesheets")}` per file. Drop `.xlsx` or `.csv` files into the
folder, or upload them on the *Sync status* page. A manual run (e.g. without a triggerer) claims
the files lying in the folder too when triggered with the configuration JSON
`{{"include_waiting": true}}`. Rules: docs/timesheets.md.
""",
        **_timesheet_common(),
    )
    [dispatch] = _tasks(inbox, KINDS["timesheets_inbox"], tenant)
    start = TriggerDagRunOperator.partial(
        task_id="start_import",
        dag=inbox,
        trigger_dag_id=tenant.dag_id("timesheets"),
        logical_date=None,
        wait_for_completion=False,
        pool=DEFAULT_POOL,
    ).expand_kwargs(dispatch.output)
    dispatch >> start
    return inbox


def build_timesheet_import_dag(tenant: TenantConfig) -> DAG:
    """One timesheet file → HQ reportings (started per file by the inbox DAG, or by hand)."""
    from hq_sync.timesheets.files import folder_of

    cfg = tenant.sources.timesheets
    assert cfg is not None
    folder = folder_of(tenant)
    importer = DAG(
        dag_id=tenant.dag_id("timesheets"),
        dag_display_name=_display_name("timesheets", tenant),
        description=f"One timesheet file → HQ reportings for {tenant.display_name}",
        schedule=None,
        max_active_runs=1,  # imports of a tenant run one after the other (one plan at a time)
        tags=["hq-sync", f"tenant:{tenant.id}", "source:timesheets"],
        doc_md=f"""### Timesheet → HQ reportings: {tenant.display_name} (`{tenant.id}`)

One run per file, started by `{tenant.dag_id("timesheets_inbox")}`, or by hand with the configuration
JSON `{{"file": "<path, absolute or relative to {folder}; it must lie inside>", "name": "<original
file name, optional>"}}`.
`read` refuses what is not a timesheet (wrong columns, binary, larger than {cfg.max_file_mb:g} MB:
the run fails, nothing is written, the reason lies next to the file) → `transform` (match HQ users,
projects, tasks; hold back what cannot be matched, with the line number) → `load` → `report`.
Re-importing a file, or an overlapping one, books nothing twice; a corrected file updates.
Connection: `{tenant.connection_id("hq")}`. Rules and the column mapping: docs/timesheets.md.
""",
        **_timesheet_common(),
    )
    chain(*_tasks(importer, KINDS["timesheets"], tenant))
    return importer


def build_audit_dag(tenant: TenantConfig) -> DAG:
    """The daily drift audit of a tenant: source vs HQ; unexplained drift fails the run (alert)."""
    sources = tenant.audited_sources()
    start = min(tenant.synced_source(s).sync_start_date for s in sources)
    tz = ZoneInfo(tenant.timezone)
    dag = DAG(
        dag_id=tenant.dag_id("audit"),
        dag_display_name=_display_name("audit", tenant),
        description=f"Does HQ still match {' and '.join(sources)}? ({tenant.display_name})",
        schedule=CronDataIntervalTimetable(tenant.audit.schedule, timezone=tenant.timezone),
        start_date=datetime(start.year, start.month, start.day, tzinfo=tz),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["hq-sync", f"tenant:{tenant.id}", "source:audit"],
        on_failure_callback=alerts.on_failure_callback(),
        doc_md=f"""### Drift audit: {tenant.display_name} (`{tenant.id}`)

Compares hours per person, project and month (awork vs the reportings in HQ) and absence days per
person, type and month (Personio vs HQ) and explains every difference: held back in quarantine,
billed in HQ and changed in the source, written by someone else, not synced yet — or
**unexplained**. `compare` stores the result (Sync status page: table, drill-down, CSV/Excel);
`verdict` fails when anything is unexplained, so drift alerts like a failed run.
Schedule `{tenant.audit.schedule}`. One month only: trigger with the configuration JSON
`{{"month": "YYYY-MM"}}`; also `python -m hq_sync.ops.audit --tenant {tenant.id} [--month YYYY-MM]`.
Rules: docs/audit.md.
""",
    )
    chain(*_tasks(dag, KINDS["audit"], tenant))
    return dag


def _config_error_dag_id(path: Path) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
    return f"{CONFIG_ERROR_PREFIX}__{safe}"


def build_config_error_dag(error: TenantFileError) -> DAG:
    """A DAG that makes a broken tenant file visible: its doc and failing task give the reason."""
    message = error.message()
    dag = DAG(
        dag_id=_config_error_dag_id(error.path),
        dag_display_name=f"⚠ tenant config error: {error.path.name}",
        description=message.splitlines()[0],
        schedule="@once",
        start_date=datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")),
        catchup=False,
        is_paused_upon_creation=False,  # run once, fail, and show red in the DAG list
        default_args={"owner": "hq-sync", "retries": 0},
        tags=["hq-sync", "config-error", f"tenant:{error.tenant_hint}"],
        doc_md=(
            f"### Tenant file `include/tenants/{error.path.name}` is invalid\n\n"
            "This tenant's sync DAGs are not generated until the file is fixed; all other tenants "
            "run normally.\n\n```\n" + message + "\n```\n\nFix the file; this DAG then disappears "
            "and the tenant's DAGs come back at the next parse. Field reference: `docs/tenants.md`."
        ),
    )
    PythonOperator(
        task_id="explain_config_error",
        dag=dag,
        python_callable=fail_with_config_error,
        op_kwargs={"message": message},
    )
    return dag


LAST_VALID_TAG = "config:last-valid"  # a tenant whose file is broken runs on its last valid copy


def mark_last_valid(dags: Any, stale: StaleTenant) -> None:
    """Say on a broken tenant file's DAGs (doc and tag) that they run on its last valid copy."""
    log.error("%s\n  %s's DAGs keep %s", stale.error.message(), stale.error.tenant_hint, stale.note())
    banner = (
        f"> **⚠ Tenant file `include/tenants/{stale.error.path.name}` is invalid**; this DAG keeps "
        f"{stale.note()} until the file is fixed (Sync status page).\n>\n"
        + "".join(f"> - `{p.field}`: {p.reason}\n" for p in stale.error.problems)
        + "\n"
    )
    for dag in dags:
        dag.doc_md = banner + (dag.doc_md or "")
        dag.tags = {*dag.tags, LAST_VALID_TAG, "config-error"}


# -- the kinds of generated DAGs ---------------------------------------------------------------
@dataclass(frozen=True)
class DagKind:
    """One kind of generated DAG (``hq_sync.kinds``): id ``<dag_id_prefix>__<tenant>``, built for the
    tenants it is ``enabled`` for by ``build`` (one tenant in, one DAG out; nothing but the tenant read)."""

    name: str
    enabled: Callable[[TenantConfig], bool]
    build: Callable[[TenantConfig], DAG]


def has_source(source: str) -> Callable[[TenantConfig], bool]:
    """``DagKind.enabled`` for kinds that exist when the tenant's ``source`` is enabled."""
    return lambda tenant: source in tenant.enabled_sources()


def _enabled(kind: Kind) -> Callable[[TenantConfig], bool]:
    """A kind comes with its tenant setting (``sources.<setting>``); the audit with audited sources."""
    if kind.setting is None:
        return lambda tenant: bool(tenant.audited_sources())
    return has_source(kind.setting)


# The builder of each kind's DAG (one per entry of hq_sync.kinds.KINDS).
BUILDERS: dict[str, Callable[[TenantConfig], DAG]] = {
    "personio": lambda tenant: build_source_dag(tenant, "personio"),
    "awork": lambda tenant: build_source_dag(tenant, "awork"),
    "hq_to_awork": build_hq_to_awork_dag,  # A2/A3
    "hq_offer": build_hq_offer_dag,  # A4: manual, comes with hq_to_awork
    "timesheets_inbox": build_timesheets_inbox_dag,  # C1: a file arrived
    "timesheets": build_timesheet_import_dag,  # C1: one file → HQ
    "audit": build_audit_dag,  # F2: daily drift audit
}

DAG_KINDS: tuple[DagKind, ...] = tuple(DagKind(kind.id, _enabled(kind), BUILDERS[kind.id]) for kind in KINDS.values())


def _tenant_dags(tenant: TenantConfig, wanted: str | None) -> tuple[dict[str, DAG], list[FieldProblem]]:
    """The tenant's DAGs of every kind (or only ``wanted``), and what failed to build.

    A kind whose builder raises becomes a problem of the tenant (shown by its config-error DAG)
    instead of an import error that would hide every tenant of the DAG file.
    """
    dags: dict[str, DAG] = {}
    problems: list[FieldProblem] = []
    every_kind = wanted is None or wanted == f"{CONFIG_ERROR_PREFIX}__{tenant.id}"
    for kind in DAG_KINDS:
        dag_id = dag_id_for(kind.name, tenant.id)
        if not (every_kind or wanted == dag_id):
            continue
        try:
            if kind.enabled(tenant):
                dags[dag_id] = kind.build(tenant)
        except Exception as exc:  # noqa: BLE001 - isolated per tenant and reported in its error DAG
            log.exception("tenant %s: building the %s DAG failed", tenant.id, kind.name)
            problems.append(FieldProblem(f"(DAG {dag_id})", f"could not be built: {type(exc).__name__}: {exc}"))
    return dags, problems


def build_dags(tenants_dir: Path | None = None, *, shard: int | None = None) -> dict[str, DAG]:
    """Every DAG of every tenant file (or of one shard; or only the DAG a running task needs), by dag_id.

    ``shard``: only the tenants whose ``shard_of(id)`` is this (one DAG file's share); None: all.
    """
    wanted = get_parsing_context().dag_id
    only = tenant_of_dag_id(wanted) if wanted else None
    if wanted and only is None:
        return {}  # a task of some other DAG file is running: build nothing
    if shard is not None and only is not None and shard_of(only) != shard:
        return {}  # that task's DAG lives in another shard
    select = None if shard is None else (lambda stem: shard_of(stem) == shard)
    loaded = load_tenants(tenants_dir, only=only, select=select, last_valid=True)
    dags: dict[str, DAG] = {}
    errors = list(loaded.errors)
    for tenant in loaded.tenants:
        started = time.perf_counter()
        built, problems = _tenant_dags(tenant, wanted)
        if tenant.id in loaded.stale:  # broken file: the DAGs of its last valid copy, saying so
            mark_last_valid(built.values(), loaded.stale[tenant.id])
        if problems:
            errors.append(TenantFileError(Path(f"{tenant.id}.yaml"), tuple(problems)))
        dags.update({dag_id: dag for dag_id, dag in built.items() if wanted is None or dag_id == wanted})
        took = time.perf_counter() - started
        if took > SLOW_TENANT_S:
            log.warning("tenant %s: its DAGs took %.1fs to build (slow tenant)", tenant.id, took)
    for error in errors:
        log.error("%s", error.message())
        dag_id = _config_error_dag_id(error.path)
        if wanted is None or wanted == dag_id:
            dags[dag_id] = build_config_error_dag(error)
    return dags
