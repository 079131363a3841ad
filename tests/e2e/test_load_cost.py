"""What a load costs (issue #12), on the demo tenant's Personio data against the sandboxes:

- a first run sends one HQ write per absence and nothing else (no lookup before a create), and
  commits two staging transactions per chunk of 200 (pending links, then their results), not
  three per record;
- a no-change run sends no HQ request and commits nothing."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from hq_sync.clients.hq import HqClient
from hq_sync.clients.personio import PersonioClient, PersonioCredentials
from hq_sync.config import TenantConfig
from hq_sync.load.concurrency import DEFAULT_CHUNK
from hq_sync.pipelines import RunContext, personio_absences
from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.scenarios.demo import demo_credentials, demo_scenario
from sandboxes.testing import SandboxServers

TENANT = "muster-agentur"


def test_a_first_run_writes_once_per_record_and_a_no_change_run_nothing(fresh_sandboxes: SandboxServers, tmp_path: Path) -> None:
    sb = fresh_sandboxes
    creds = demo_credentials()[TENANT]
    [section] = [t for t in demo_scenario(persons=10)["tenants"] if t["id"] == TENANT]
    from sandboxes.hq.seed import seed_tenant as seed_hq
    from sandboxes.personio.seed import seed_tenant as seed_personio

    seed_hq(sb.url("hq"), TENANT, section["hq"])
    seed_personio(sb.url("personio"), TENANT, section["personio"])

    class Clients:
        def hq(self) -> HqClient:
            return HqClient(sb.url("hq") + "/v1", creds["hq_sync_token"])

        def personio(self) -> PersonioClient:
            return PersonioClient(sb.url("personio"), PersonioCredentials(creds["personio_client_id"],
                                                                          creds["personio_client_secret"]))

    engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    upgrade(engine)
    commits = Counter[str]()
    event.listen(engine, "commit", lambda conn: commits.update(["commit"]))
    tenant = TenantConfig.model_validate({"id": TENANT, "display_name": "Muster", "timezone": "Europe/Berlin",
                                         "sources": {"personio": {"sync_start_date": f"{datetime.now(UTC).year}-01-01"}}})

    def run(run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        ctx = RunContext(tenant=tenant, source="personio", dag_id="cost", run_id=run_id, data_interval_start=None,
                         data_interval_end=None, staging=engine, clients=Clients())  # type: ignore[arg-type]
        results: dict[str, Any] = {}
        for step in ("extract", "reconcile_deletions", "transform"):
            results[step] = getattr(personio_absences, step)(ctx, step_results=results)
        start, before = sb.admin("hq").requests()[-1]["seq"], commits["commit"]
        loaded = personio_absences.load(ctx, step_results=results)
        return loaded, sb.admin("hq").requests(since=start), commits["commit"] - before

    loaded, log, committed = run("first")
    created = loaded["absence"]["created"]
    assert created > DEFAULT_CHUNK  # more than one chunk
    assert [r["method"] for r in log] == ["POST"] * created  # one write per absence, no lookup
    assert committed <= 2 * math.ceil(created / DEFAULT_CHUNK)
    assert loaded["requests"] == created and loaded["timing"]["staging_s"] < loaded["timing"]["total_s"]

    loaded, log, committed = run("again")
    assert loaded["absence"]["skipped"] == created and loaded["absence"]["created"] == 0
    assert log == [] and committed == 0
