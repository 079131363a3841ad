"""What the extract side of a run costs in vendor requests (issue #12), on the demo tenant's data.

    .venv/bin/python tools/measure_issue12_extract.py

Starts the sandboxes on free ports, seeds the demo tenant ``muster-agentur`` (HQ, Personio, awork)
and runs each source's steps ``extract → reconcile_deletions → transform`` twice (a first run and
a run with no change), each step with clients of its own (as each Airflow task builds them). Counts
the Personio and awork requests from the sandboxes' request logs, and the contract minimum of a
first run (``ceil(records / largest page)`` per listing, plus the token). The cursor overlap is
set to 2 s and each run waits it out, so the no-change run shows the steady state (a run more
than the overlap after the last change) without waiting 15 minutes.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hq_sync.clients.awork import AworkClient  # noqa: E402
from hq_sync.clients.hq import HqClient  # noqa: E402
from hq_sync.clients.personio import PersonioClient, PersonioCredentials  # noqa: E402
from hq_sync.config import TenantConfig  # noqa: E402
from hq_sync.pipelines import (  # noqa: E402
    RunContext,  # noqa: E402
    awork_times,
    personio_absences,
)
from hq_sync.staging import create_staging_engine, upgrade  # noqa: E402
from sandboxes.scenario import load_scenario  # noqa: E402
from sandboxes.scenarios.demo import demo_credentials, demo_scenario  # noqa: E402
from sandboxes.testing import SandboxServers  # noqa: E402

TENANT = "muster-agentur"
STEPS = ("extract", "reconcile_deletions", "transform")
OVERLAP_S = 2  # the tenants' cursor overlap here (default 900 s): the script need not wait 15 minutes


class Clients:
    """Fresh clients, as one Airflow task builds them."""

    def __init__(self, sb: SandboxServers, creds: dict[str, str]) -> None:
        self.sb, self.creds = sb, creds

    def hq(self) -> HqClient:
        return HqClient(self.sb.url("hq") + "/v1", self.creds["hq_sync_token"])

    def personio(self) -> PersonioClient:
        return PersonioClient(self.sb.url("personio"), PersonioCredentials(self.creds["personio_client_id"],
                                                                           self.creds["personio_client_secret"]))

    def awork(self) -> AworkClient:
        return AworkClient(self.sb.url("awork") + "/api/v1", self.creds["awork_api_key"],
                           requests_per_minute=None, requests_per_second=None)


def _bucket(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    out = []
    for p in parts:
        out.append("{id}" if (len(p) >= 32 or p.isdigit()) else p)
    return "/" + "/".join(out)


def _seq(sb: SandboxServers, vendor: str) -> int:
    log = sb.admin(vendor).requests()
    return log[-1]["seq"] if log else 0


def run(sb: SandboxServers, module: Any, source: str, tenant: TenantConfig, engine: Any, creds: dict[str, str],
        run_id: str) -> tuple[int, Counter[str]]:
    vendor = source
    start = _seq(sb, vendor)
    for step in STEPS:
        ctx = RunContext(tenant=tenant, source=source, dag_id=f"m_{source}", run_id=run_id, data_interval_start=None,
                         data_interval_end=None, staging=engine, clients=Clients(sb, creds))  # type: ignore[arg-type]
        getattr(module, step)(ctx)
    counts: Counter[str] = Counter(_bucket(r["path"]) for r in sb.admin(vendor).requests(since=start))
    return sum(counts.values()), counts


def main() -> None:
    creds = demo_credentials()[TENANT]
    scenario = demo_scenario()
    scenario["tenants"] = [t for t in scenario["tenants"] if t["id"] == TENANT]
    year = datetime.now(UTC).year
    with tempfile.TemporaryDirectory() as tmp, SandboxServers(Path(tmp) / "sb") as sb:
        load_scenario(scenario, {v: sb.url(v) for v in ("hq", "personio", "awork")}, reset=True)
        engine = create_staging_engine(f"sqlite:///{tmp}/staging.sqlite")
        upgrade(engine)
        tenant = TenantConfig.model_validate({"id": TENANT, "display_name": "Muster", "sources": {
            "personio": {"sync_start_date": f"{year}-01-01", "cursor_overlap_seconds": OVERLAP_S},
            "awork": {"sync_start_date": f"{year}-01-01", "cursor_overlap_seconds": OVERLAP_S}}})

        for label, module, source in (("Personio", personio_absences, "personio"), ("awork", awork_times, "awork")):
            for name in ("first run", "no-change run"):
                time.sleep(OVERLAP_S + 1)  # steady state: the run comes more than the overlap after the last change
                total, counts = run(sb, module, source, tenant, engine, creds, f"{source}-{name}")
                print(f"{label} {name}: {total} requests: {dict(sorted(counts.items()))}")
        # Contract minimum (read after the runs: the token cache must not serve the first run) of a first run: records / largest page per listing, plus auth.
        p = Clients(sb, creds).personio()
        persons = sum(len(pg) for pg in p.persons())
        types = sum(len(pg) for pg in p.absence_types())
        periods = sum(len(pg) for pg in p.absence_periods())
        personio_min = 1 + math.ceil(persons / 50) + math.ceil(types / 100) + math.ceil(periods / 100)
        a = Clients(sb, creds).awork()
        users = sum(len(pg) for pg in a.users(show_archived=True))
        tow = sum(len(pg) for pg in a.types_of_work(show_archived=True))
        entries = sum(len(pg) for pg in a.time_entries())
        projects = [pr for pg in a.projects() for pr in pg]
        print(f"Personio records: persons {persons}, types {types}, periods {periods}; minimum {personio_min} requests")
        print(f"awork records: users {users}, types of work {tow}, projects {len(projects)}, time entries {entries}")



if __name__ == "__main__":
    main()
