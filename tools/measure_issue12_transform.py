"""Peak memory of ``transform`` at 1x and 10x the demo data (issue #12).

    .venv/bin/python tools/measure_issue12_transform.py

Starts the sandboxes on free ports, seeds the demo tenant ``muster-agentur``, runs each source's
``extract`` into an SQLite staging file (1x), copies it and multiplies the staged time entries
and absence periods by ten (new ids, same content: 10x), then runs ``transform`` of each source
on each copy in a fresh process and prints the process's RSS before it and its peak during it
(sampled from /proc/self/status every 5 ms: importing the libraries costs more than a streamed
transform, so ``ru_maxrss`` would only show the import).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

import sqlalchemy as sa  # noqa: E402
from measure_issue12_extract import Clients  # noqa: E402

from hq_sync.config import TenantConfig  # noqa: E402
from hq_sync.pipelines import RunContext, awork_times, personio_absences  # noqa: E402
from hq_sync.staging import create_staging_engine, upgrade  # noqa: E402
from sandboxes.scenario import load_scenario  # noqa: E402
from sandboxes.scenarios.demo import demo_credentials, demo_scenario  # noqa: E402
from sandboxes.testing import SandboxServers  # noqa: E402

TENANT = "muster-agentur"

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {src!r}); sys.path.insert(0, {tools!r})
from hq_sync.config import TenantConfig
from hq_sync.pipelines import RunContext, awork_times, personio_absences
from hq_sync.staging import create_staging_engine
from measure_issue12_extract import Clients
from sandboxes.scenarios.demo import demo_credentials
class SB:
    def url(self, vendor): return {urls!r}[vendor]
tenant = TenantConfig.model_validate(json.loads({tenant!r}))
module = {{"awork": awork_times, "personio": personio_absences}}[{source!r}]
ctx = RunContext(tenant=tenant, source={source!r}, dag_id="m", run_id="t", data_interval_start=None, data_interval_end=None,
                 staging=create_staging_engine({url!r}), clients=Clients(SB(), demo_credentials()[{tenant_id!r}]))
import threading, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
peak, done = [rss()], threading.Event()
def sample():
    while not done.is_set():
        peak.append(rss()); time.sleep(0.005)
before = rss()
sampler = threading.Thread(target=sample); sampler.start()
result = module.transform(ctx)
done.set(); sampler.join()
print(json.dumps({{"rss_before_mib": round(before, 1), "peak_rss_during_mib": round(max(peak), 1),
                  "transform_extra_mib": round(max(peak) - before, 1),
                  "entries": result.get("entries", (result.get("planned") or {{}}).get("quarantined"))}}))
"""


def multiply(db: Path, factor: int) -> None:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        for table in ("awork_time_entries", "personio_absence_periods"):
            columns = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            for k in range(1, factor):
                picked = ", ".join(f"source_id || '-x{k}'" if c == "source_id" else c for c in columns)
                conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT "
                                     f"{picked} FROM {table} WHERE source_id NOT LIKE '%-x%'"))
    engine.dispose()


def main() -> None:
    creds = demo_credentials()[TENANT]
    scenario = demo_scenario()
    scenario["tenants"] = [t for t in scenario["tenants"] if t["id"] == TENANT]
    year = datetime.now(UTC).year
    tenant_json = ('{"id": "%s", "display_name": "Muster", "sources": {"personio": {"sync_start_date": "%d-01-01"}, '
                   '"awork": {"sync_start_date": "%d-01-01"}}}' % (TENANT, year, year))
    tenant = TenantConfig.model_validate_json(tenant_json)
    with tempfile.TemporaryDirectory() as tmp, SandboxServers(Path(tmp) / "sb") as sb:
        load_scenario(scenario, {v: sb.url(v) for v in ("hq", "personio", "awork")}, reset=True)
        one = Path(tmp) / "1x.sqlite"
        engine = create_staging_engine(f"sqlite:///{one}")
        upgrade(engine)
        for source, module in (("personio", personio_absences), ("awork", awork_times)):
            ctx = RunContext(tenant=tenant, source=source, dag_id="m", run_id="e", data_interval_start=None,
                             data_interval_end=None, staging=engine, clients=Clients(sb, creds))  # type: ignore[arg-type]
            module.extract(ctx)
        engine.dispose()
        ten = Path(tmp) / "10x.sqlite"
        shutil.copy(one, ten)
        multiply(ten, 10)
        urls = {v: sb.url(v) for v in ("hq", "personio", "awork")}
        for source in ("personio", "awork"):
            for label, db in (("1x", one), ("10x", ten)):
                code = CHILD.format(src=str(ROOT / "src"), tools=str(ROOT / "tools"), urls=urls, tenant=tenant_json,
                                    source=source, url=f"sqlite:///{db}", tenant_id=TENANT)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                print(f"{source} transform {label}: {out.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
