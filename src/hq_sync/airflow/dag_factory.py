"""One DAG per enabled tenant and source, generated from ``include/tenants/*.yaml`` (product.md D1).

Parsing reads only the tenant files: no network, database or Variable access. When a task runs,
``get_parsing_context().dag_id`` names its DAG, and only that tenant's file is read and only that
DAG is built. A broken tenant file becomes a ``tenant_config_error__<file>`` DAG whose doc and
single failing task state the file, the field and the reason; all other tenants are unaffected.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, chain, get_parsing_context

from hq_sync.airflow import tasks
from hq_sync.config import DAG_ID_PREFIX, TenantConfig, TenantFileError, load_tenants
from hq_sync.ops import alerts
from hq_sync.pipelines.steps import STEP_NAMES
from hq_sync.webhooks.assets import asset_name, asset_uri

log = logging.getLogger(__name__)

CONFIG_ERROR_PREFIX = "tenant_config_error"
POOLS = {"personio": "personio_api", "awork": "awork_api", "hq": "hq_api"}
DEFAULT_POOL_SLOTS = {"personio_api": 4, "awork_api": 4, "hq_api": 8}
# Which external API each step talks to (its pool); None: staging database only.
STEP_API = {"extract": "source", "reconcile_deletions": "source", "transform": None, "load": "hq", "report": None}

DEFAULT_ARGS = {
    "owner": "hq-sync",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}

HQ_TO_AWORK_START = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))  # no history to backfill: catchup is off

SOURCE_TITLES = {
    "personio": ("Personio absences → HQ", "absences from Personio into HQ (product.md B1–B7)"),
    "awork": ("awork times → HQ", "awork time entries into HQ reportings, tasks and phases (A5–A9)"),
    "hq_to_awork": ("HQ projects → awork", "HQ projects flagged 'awork-Projekt anlegen' into awork projects (A2, A3)"),
    "hq_offer": ("HQ offer → awork tasks", "one HQ offer's groups and positions into awork task lists and tasks (A4)"),
}


def tenant_of_dag_id(dag_id: str) -> str | None:
    """The tenant id a generated DAG id belongs to, or None for foreign DAG ids."""
    for prefix in (*DAG_ID_PREFIX.values(), CONFIG_ERROR_PREFIX):
        if dag_id.startswith(prefix + "__"):
            return dag_id.removeprefix(prefix + "__")
    return None


def _doc_md(tenant: TenantConfig, source: str) -> str:
    cfg = tenant.source(source)
    assert cfg is not None
    dag_id = tenant.dag_id(source)
    title, what = SOURCE_TITLES[source]
    options = ""
    if source == "awork":
        options = f"- **Phase mode:** `{cfg.phase_mode.value}` (A5/A6)\n"  # type: ignore[union-attr]
    elif cfg.absence_type_mapping:  # type: ignore[union-attr]
        overrides = ", ".join(f"{k}: {v}" for k, v in cfg.absence_type_mapping.items())  # type: ignore[union-attr]
        options = f"- **Absence type overrides:** {overrides}\n"
    if cfg.webhooks.enabled:  # type: ignore[union-attr]
        options += (f"- **Webhooks:** on: a {source} event starts a run at once (asset "
                    f"`{asset_name(tenant.id, source)}`); polling `{cfg.effective_schedule}` is the safety net "  # type: ignore[union-attr]
                    "(docs/webhooks.md)\n")
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

**Re-run a failed run:** Grid → select the run → *Clear* → "Only failed tasks". Every step can be
re-run: writes to HQ are keyed by the source record, so nothing is booked twice.
"""


def source_schedule(tenant: TenantConfig, source: str) -> CronDataIntervalTimetable | AssetOrTimeSchedule:
    """The schedule of a tenant's source DAG: its cron; with webhooks on (issue #14) its polling
    cron **or** the tenant's webhook asset, so a vendor event starts a run at once."""
    cfg = tenant.source(source)
    assert cfg is not None
    cron = CronDataIntervalTimetable(cfg.effective_schedule, timezone=tenant.timezone)  # type: ignore[union-attr]
    if not cfg.webhooks.enabled:  # type: ignore[union-attr]
        return cron
    asset = Asset(name=asset_name(tenant.id, source), uri=asset_uri(tenant.id, source), group="hq-sync-webhooks")
    return AssetOrTimeSchedule(timetable=cron, assets=asset)


def webhook_params(tenant: TenantConfig, source: str) -> dict[str, Param]:
    """With webhooks on: the ``run_mode`` param (``auto``: asset-triggered runs read only what the
    events name, other runs poll; ``events``/``full`` force one of them)."""
    cfg = tenant.source(source)
    if cfg is None or not cfg.webhooks.enabled:  # type: ignore[union-attr]
        return {}
    return {"run_mode": Param("auto", enum=["auto", "events", "full"], title="Run mode",
                              description="auto: a run started by webhook events reads only the records they name, "
                              "any other run polls; events / full: force one (docs/webhooks.md)")}


def build_source_dag(tenant: TenantConfig, source: str) -> DAG:
    """The sync DAG of one tenant and source."""
    cfg = tenant.source(source)
    assert cfg is not None, f"{tenant.id} has no {source} source"
    tz = ZoneInfo(tenant.timezone)
    start = datetime(cfg.sync_start_date.year, cfg.sync_start_date.month, cfg.sync_start_date.day, tzinfo=tz)
    params = {}
    if source == "personio":
        params["remap_past"] = Param(
            False,
            type="boolean",
            title="Re-map past absences",
            description="Apply the current absence type mapping to absences already in HQ "
            "(B4: by default a mapping change only affects absences edited in Personio afterwards).",
        )
    params.update(webhook_params(tenant, source))
    dag = DAG(
        dag_id=tenant.dag_id(source),
        params=params,
        dag_display_name=f"{SOURCE_TITLES[source][0]}: {tenant.display_name}",
        description=f"{SOURCE_TITLES[source][0]} for {tenant.display_name}",
        schedule=source_schedule(tenant, source),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["hq-sync", f"tenant:{tenant.id}", f"source:{source}"],
        doc_md=_doc_md(tenant, source),
        on_failure_callback=alerts.on_failure_callback(),  # off unless HQ_SYNC_ALERTS is set
    )
    operators = []
    for step in STEP_NAMES:
        api = STEP_API[step]
        pool = POOLS[source] if api == "source" else POOLS["hq"] if api == "hq" else None
        operators.append(
            PythonOperator(
                task_id=step,
                dag=dag,
                python_callable=tasks.run_step,
                op_kwargs={"source": source, "step": step, "tenant_id": tenant.id},
                pool=pool or "default_pool",
            )
        )
    chain(*operators)
    return dag


def _task(dag: DAG, source: str, step: str, tenant: TenantConfig, pool: str) -> PythonOperator:
    return PythonOperator(
        task_id=step,
        dag=dag,
        python_callable=tasks.run_step,
        op_kwargs={"source": source, "step": step, "tenant_id": tenant.id},
        pool=pool,
    )


def build_hq_to_awork_dags(tenant: TenantConfig) -> list[DAG]:
    """HQ → awork: projects on a schedule (A2/A3), and one offer on demand (A4)."""
    cfg = tenant.sources.hq_to_awork
    assert cfg is not None
    common = {
        "catchup": False,
        "max_active_runs": 1,
        "start_date": HQ_TO_AWORK_START,
        "default_args": DEFAULT_ARGS,
        "on_failure_callback": alerts.on_failure_callback(),
    }
    projects = DAG(
        dag_id=tenant.dag_id("hq_to_awork"),
        dag_display_name=f"{SOURCE_TITLES['hq_to_awork'][0]}: {tenant.display_name}",
        description=f"HQ projects → awork for {tenant.display_name}",
        schedule=CronDataIntervalTimetable(cfg.schedule, timezone=tenant.timezone),
        tags=["hq-sync", f"tenant:{tenant.id}", "source:hq_to_awork"],
        doc_md=f"""### HQ projects → awork: {tenant.display_name} (`{tenant.id}`)

Every HQ project with "awork-Projekt anlegen" set and an empty "{cfg.link_field}" gets an awork
project of the same name{' (prefixed with the HQ project number)' if cfg.prefix_project_number else ''};
its customer is set when a company of the same name (trimmed, exact) exists in both tools, and the
awork address is written back to "{cfg.link_field}" (A2). Links set by hand are honoured; a link to a
project that does not exist is reported (A3). Never two awork projects for one HQ project, also
when an answer is lost. Connections: `{tenant.connection_id("awork")}`, `{tenant.connection_id("hq")}`.
Schedule `{cfg.schedule}`. Counts: the `report` task's XCom.
""",
        **common,
    )
    chain(_task(projects, "hq_to_awork", "sync_projects", tenant, POOLS["awork"]),
          _task(projects, "hq_to_awork", "report", tenant, "default_pool"))
    offer = DAG(
        dag_id=tenant.dag_id("hq_offer"),
        dag_display_name=f"{SOURCE_TITLES['hq_offer'][0]}: {tenant.display_name}",
        description=f"One HQ offer → awork task lists and tasks for {tenant.display_name}",
        schedule=None,
        tags=["hq-sync", f"tenant:{tenant.id}", "source:hq_offer"],
        params={
            "offer_number": Param("", type="string", minLength=1, title="Offer number (Angebotsnummer)",
                                  description="The HQ offer whose groups and positions become awork task lists and tasks."),
            "awork_project": Param("", type="string", title="awork project (optional)",
                                   description="Name or id. Empty: the awork project linked to the offer's HQ project, "
                                               "else the one with the same name. The run's log lists the candidates when "
                                               "none fits."),
        },
        doc_md=f"""### HQ offer → awork tasks: {tenant.display_name} (`{tenant.id}`)

Trigger with the offer number. Group sums become awork task lists named like the group; single
positions become tasks in them (name from the position text without markup, planned duration from
the amount when its unit is hours or days of 8 h); positions outside any group become tasks
without a list (A4). Running it twice creates nothing new; positions added to the offer later are
added.
""",
        **common,
    )
    chain(_task(offer, "hq_offer", "sync_offer", tenant, POOLS["awork"]),
          _task(offer, "hq_offer", "report", tenant, "default_pool"))
    return [projects, offer]


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
        python_callable=tasks.fail_with_config_error,
        op_kwargs={"message": message},
    )
    return dag


def build_dags(tenants_dir: Path | None = None) -> dict[str, DAG]:
    """Every DAG of every tenant file (or only the DAG a running task needs), by dag_id."""
    wanted = get_parsing_context().dag_id
    only = tenant_of_dag_id(wanted) if wanted else None
    if wanted and only is None:
        return {}  # a task of some other DAG file is running: build nothing
    loaded = load_tenants(tenants_dir, only=only)
    dags: dict[str, DAG] = {}
    for tenant in loaded.tenants:
        for source in tenant.enabled_sources():
            if source == "hq_to_awork":
                if wanted is None or wanted in (tenant.dag_id("hq_to_awork"), tenant.dag_id("hq_offer")):
                    dags.update({dag.dag_id: dag for dag in build_hq_to_awork_dags(tenant)})
                continue
            dag_id = tenant.dag_id(source)
            if wanted is None or wanted == dag_id:
                dags[dag_id] = build_source_dag(tenant, source)
    for error in loaded.errors:
        log.error("%s", error.message())
        dag_id = _config_error_dag_id(error.path)
        if wanted is None or wanted == dag_id:
            dags[dag_id] = build_config_error_dag(error)
    return dags
