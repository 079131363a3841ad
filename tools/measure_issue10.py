"""What issue #10's safeguards cost, in requests, on the demo tenant's data (docs/sandbox.md#switch-positions).

    .venv/bin/python tools/measure_issue10.py

Starts the sandboxes on free ports, seeds the demo tenant ``muster-agentur`` (HQ and Personio; awork
with two months of time entries) and counts the requests of:

1. Personio's first extract (periods read by start only, day end learnt from breakdowns) against
   the alternative of one breakdown per changed day-unit period;
2. reading HQ's users in each server-paging position;
3. awork's incremental time-entry read after 50 edits, in each ``time_entries_query`` position.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import requests  # noqa: E402

from hq_sync.clients.awork import AworkClient  # noqa: E402
from hq_sync.clients.awork.query import QuerySupport  # noqa: E402
from hq_sync.clients.hq import HqClient  # noqa: E402
from hq_sync.clients.personio import PersonioClient, PersonioCredentials  # noqa: E402
from hq_sync.config import TenantConfig  # noqa: E402
from hq_sync.pipelines import (
    RunContext,  # noqa: E402
    personio_absences,  # noqa: E402
)
from hq_sync.staging import create_staging_engine, upgrade  # noqa: E402
from sandboxes.scenarios.demo import demo_credentials, demo_scenario  # noqa: E402
from sandboxes.testing import SandboxServers  # noqa: E402

TENANT = "muster-agentur"


def _paths(sb: SandboxServers, vendor: str, since: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for r in sb.admin(vendor).requests(since=since):
        path = r["path"]
        counts["/breakdowns" if path.endswith("/breakdowns") else path if "absence-periods/" not in path else "period by id"] += 1
    return counts


def _last_seq(sb: SandboxServers, vendor: str) -> int:
    log = sb.admin(vendor).requests()
    return log[-1]["seq"] if log else 0


def main() -> None:
    creds = demo_credentials()[TENANT]
    scenario = demo_scenario()
    [tenant_section] = [t for t in scenario["tenants"] if t["id"] == TENANT]
    with tempfile.TemporaryDirectory() as tmp, SandboxServers(Path(tmp) / "sb") as sb:
        sb.reset()
        from sandboxes.hq.seed import seed_tenant as seed_hq
        from sandboxes.personio.seed import seed_tenant as seed_personio

        seed_hq(sb.url("hq"), TENANT, tenant_section["hq"])
        seed_personio(sb.url("personio"), TENANT, tenant_section["personio"])

        # 1. Personio first extract.
        engine = create_staging_engine(f"sqlite:///{tmp}/staging.sqlite")
        upgrade(engine)
        personio = PersonioClient(sb.url("personio"), PersonioCredentials(creds["personio_client_id"], creds["personio_client_secret"]))

        class Clients:
            def personio(self) -> PersonioClient:
                return personio

        tenant = TenantConfig.model_validate({"id": TENANT, "display_name": "Muster", "sources": {
            "personio": {"sync_start_date": f"{datetime.now(UTC).year}-01-01"}}})
        ctx = RunContext(tenant=tenant, source="personio", dag_id="m", run_id="m1", data_interval_start=None,
                         data_interval_end=None, staging=engine, clients=Clients())  # type: ignore[arg-type]
        start = _last_seq(sb, "personio")
        result = personio_absences.extract(ctx)
        counts = _paths(sb, "personio", start)
        day_periods = sum(1 for p in requests_periods(sb, creds) if p.get("ends_at"))
        print("1. Personio first extract of the demo tenant")
        print(f"   periods staged: {result['absence_periods']}; requests by endpoint: {dict(counts)}")
        print(f"   day end learnt from {counts['/breakdowns']} breakdown request(s), convention "
              f"{result['day_end']['convention']}; one breakdown per changed day-unit period would cost "
              f"{day_periods} requests on this first run (and one per changed period on every later run)")

        # 2. HQ paging.
        print("2. HQ: every user, and one user's absences, read in full")
        hq_admin = sb.admin("hq")
        for label, switches in (("server page 1000", {"server_page_size": 1000}),
                                ("server page 7 + nextLink", {"server_page_size": 7}),
                                ("server page 7, no nextLink", {"server_page_size": 7, "next_link": False}),
                                ("server page 7, no nextLink, no $count", {"server_page_size": 7, "next_link": False, "honour_count": False})):
            hq_admin.put(f"/tenants/{TENANT}/settings", {"next_link": True, "honour_count": True, **switches})
            client = HqClient(sb.url("hq") + "/v1", creds["hq_sync_token"])
            users = client.users()
            n_users = client.requests_sent
            absences = client.all(f"Users({users[0]['Id']})/Absences")
            print(f"   {label:<40} {len(users)} users in {n_users} request(s); {len(absences)} absences of one user in "
                  f"{client.requests_sent - n_users}")
        hq_admin.put(f"/tenants/{TENANT}/settings", {"server_page_size": 1000, "next_link": True, "honour_count": True})

        # 3. awork incremental read.
        print("3. awork: incremental read after 50 edits (2 months of entries for 25 people)")
        from sandboxes.awork.seed import seed_tenant as seed_awork

        section = dict(tenant_section["awork"])
        today = datetime.now(UTC).date()
        section["generate_time_entries"] = {**section.get("generate_time_entries", {}),
                                            "from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()}
        seed_awork(sb.url("awork"), TENANT, section)
        api = sb.url("awork") + "/api/v1"
        awork = AworkClient(api, creds["awork_api_key"], requests_per_minute=None, requests_per_second=None)
        entries = [e for page in awork.time_entries() for e in page]
        since = datetime.now(UTC).replace(microsecond=0)
        import time

        time.sleep(1.1)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {creds['awork_api_key']}"
        for entry in entries[:50]:
            body = {k: entry.get(k) for k in ("timezone", "typeOfWorkId", "userId", "projectId", "taskId", "duration", "isBillable")}
            body.update({"startDateUtc": f"{entry['startDateUtc'][:10]}T{entry['startTimeUtc'] or '08:00:00'}Z", "note": "edited"})
            session.put(f"{api}/timeentries/{entry['id']}", json=body, timeout=10).raise_for_status()
        for position in QuerySupport:
            sb.admin("awork").put(f"/tenants/{TENANT}/settings", {"time_entries_query": position.value})
            client = AworkClient(api, creds["awork_api_key"], requests_per_minute=None, requests_per_second=None)
            support = client.time_entry_query_support()
            checks = client.requests_sent
            got = [e for page in client.time_entries_updated_since(since, support=support) for e in page]
            print(f"   {position.value:<15} found {support.value:<15} check {checks} requests; read {len(got)} changed of "
                  f"{len(entries)} in {client.requests_sent - checks} request(s)")


def requests_periods(sb: SandboxServers, creds: dict[str, Any]) -> list[dict[str, Any]]:
    client = PersonioClient(sb.url("personio"), PersonioCredentials(creds["personio_client_id"], creds["personio_client_secret"]))
    day_types = {t["id"] for page in client.absence_types() for t in page if t["unit"] == "DAY"}
    return [p for page in client.absence_periods() for p in page if p["absence_type"]["id"] in day_types]


if __name__ == "__main__":
    main()
