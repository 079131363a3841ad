"""What the load step costs on the demo data (issue #12): HQ requests against the contract minimum,
and the staging bookkeeping share, for a first run and a no-change run.

    .venv/bin/python tools/measure_load.py [--source awork|personio|both] [--entry-days N] [--workers N]
                                           [--latency-ms MS] [--hq-limit PER_MINUTE] [--runs 1|2]

Starts the sandboxes on free ports (no rate limit: HQ's 1000/min would only add waiting), seeds the
demo tenant ``muster-agentur`` and runs the pipeline steps (extract → reconcile → transform →
load) twice with a file staging database. Per run it prints the load's HQ requests by kind — writes,
listings, per-record lookups — the ratio to the minimum (one write per changed record + the
listings; a static token needs no auth request), the staging transactions committed and the share
of the load step spent in them (``LoadTiming``). ``--latency-ms`` makes every HQ write slow (the
sandbox's ``delay`` fault), as HQ's are over the internet; ``--hq-limit 1000`` switches HQ's limit on
and loads with a Redis-shared budget of that size, and prints the share of the limit's throughput
reached (the extract's HQ reads share the window, so the load starts after a minute's pause).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import event  # noqa: E402

from hq_sync.clients.awork import AworkClient  # noqa: E402
from hq_sync.clients.hq import HqClient  # noqa: E402
from hq_sync.clients.personio import PersonioClient, PersonioCredentials  # noqa: E402
from hq_sync.config import TenantConfig  # noqa: E402
from hq_sync.pipelines import RunContext  # noqa: E402
from hq_sync.staging import create_staging_engine, upgrade  # noqa: E402
from sandboxes.scenarios.demo import demo_credentials, demo_scenario  # noqa: E402
from sandboxes.testing import SandboxServers  # noqa: E402

TENANT = "muster-agentur"
REDIS_URL = os.environ.get("HQ_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOOKUP = re.compile(r"StartOn(%20|\+| )eq|End(%20|\+| )gt|tolower\(SyncId\)")


def _last_seq(sb: SandboxServers, vendor: str) -> int:
    log = sb.admin(vendor).requests()
    return log[-1]["seq"] if log else 0


def classify(entries: list[dict[str, Any]]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for r in entries:
        if r["method"] != "GET":
            kinds["write"] += 1
        elif LOOKUP.search(r.get("query") or ""):
            kinds["lookup"] += 1
        else:
            kinds["listing"] += 1
        if r.get("status") == 429:
            kinds["429"] += 1
    return kinds


def run(source: str, sb: SandboxServers, tmp: Path, workers: int, limit: int | None = None, runs: int = 2) -> None:
    from hq_sync.pipelines import awork_times, personio_absences

    creds = demo_credentials()[TENANT]
    module = awork_times if source == "awork" else personio_absences
    engine = create_staging_engine(f"sqlite:///{tmp}/staging-{source}.sqlite")
    upgrade(engine)
    commits = Counter[str]()
    event.listen(engine, "commit", lambda conn: commits.update(["commit"]))

    budget = None
    if limit:  # the tenant's budget at HQ's limit, shared in Redis as under Celery
        import uuid

        import redis

        from hq_sync.clients.budget import RedisRequestBudget

        budget = RedisRequestBudget(redis.Redis.from_url(REDIS_URL), f"hq_sync_measure:{uuid.uuid4().hex}",
                                    per_minute=limit, per_second=None)

    class Clients:
        def hq(self) -> HqClient:
            return HqClient(sb.url("hq") + "/v1", creds["hq_sync_token"], write_concurrency=workers, budget=budget)

        def awork(self) -> AworkClient:
            return AworkClient(sb.url("awork") + "/api/v1", creds["awork_api_key"], requests_per_minute=None,
                               requests_per_second=None)

        def personio(self) -> PersonioClient:
            return PersonioClient(sb.url("personio"), PersonioCredentials(creds["personio_client_id"],
                                                                          creds["personio_client_secret"]))

    year = datetime.now(UTC).year
    sources: dict[str, Any] = {"personio": {"sync_start_date": f"{year}-01-01"}} if source == "personio" else {
        "awork": {"sync_start_date": f"{year}-01-01", "phase_mode": "by_list"}}
    tenant = TenantConfig.model_validate({"id": TENANT, "display_name": "Muster", "timezone": "Europe/Berlin",
                                         "sources": sources})
    for label in ("first run", "no-change run")[:runs]:
        ctx = RunContext(tenant=tenant, source=source, dag_id=f"m_{source}", run_id=f"{label}", data_interval_start=None,
                         data_interval_end=None, staging=engine, clients=Clients())  # type: ignore[arg-type]
        results: dict[str, Any] = {}
        for step in ("extract", "reconcile_deletions", "transform"):
            results[step] = getattr(module, step)(ctx, step_results=results)
        if limit:
            time.sleep(61)  # the window starts empty: the bound below counts the first minute's burst
        start, commits_before = _last_seq(sb, "hq"), commits["commit"]
        t0 = time.monotonic()
        results["load"] = module.load(ctx, step_results=results)
        elapsed = time.monotonic() - t0
        kinds = classify(sb.admin("hq").requests(since=start))
        load = results["load"]
        stats = load.get("reporting_load") if source == "awork" else load
        timing = stats["timing"]
        entity = "reporting" if source == "awork" else "absence"
        counts = load[entity]
        total = kinds["write"] + kinds["lookup"] + kinds["listing"]
        minimum = kinds["write"] + kinds["listing"]
        print(f"{source} {label}: {counts['created']} created, {counts['updated']} updated, {counts['deleted']} deleted, "
              f"{counts['skipped']} skipped; load step {elapsed:.1f}s")
        print(f"   HQ requests in load: {total} = {kinds['write']} writes + {kinds['listing']} listings + "
              f"{kinds['lookup']} per-record lookups ({kinds['429']} answered 429); minimum {minimum}; "
              f"ratio {total / minimum if minimum else 1:.3f}")
        if limit:
            # At most ``limit`` in any 60 s: request k cannot start before ((k - 1) // limit) minutes.
            bound = (total - 1) // limit * 60
            rate = total / elapsed * 60 if elapsed else 0.0
            print(f"   at HQ's limit of {limit}/min: {total} requests in {elapsed:.1f}s = {rate:.0f}/min "
                  f"({100 * rate / limit:.1f} % of the limit); the limit cannot take them in less than {bound}s")
        print(f"   {entity} loader: {timing['total_s']:.1f}s, staging {timing['staging_s']:.2f}s "
              f"({100 * timing['staging_share']:.1f} %), HQ {timing['hq_s']:.1f}s, {stats.get('workers')} workers; "
              f"staging transactions committed in the load step: {commits['commit'] - commits_before}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("awork", "personio", "both"), default="both")
    parser.add_argument("--entry-days", type=int, default=None, help="awork entries of the last N days only (default: the year)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent HQ writes (connection extra write_concurrency)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every HQ write by this much")
    parser.add_argument("--hq-limit", type=int, default=None,
                        help="switch HQ's per-token limit on (requests/min) and load with a budget of that size (Redis)")
    parser.add_argument("--runs", type=int, choices=(1, 2), default=2, help="1: the first run only")
    args = parser.parse_args()
    scenario = demo_scenario(entry_days=args.entry_days)
    [section] = [t for t in scenario["tenants"] if t["id"] == TENANT]
    with tempfile.TemporaryDirectory() as tmp, SandboxServers(Path(tmp) / "sb") as sb:
        sb.reset()
        from sandboxes.awork.seed import seed_tenant as seed_awork
        from sandboxes.hq.seed import seed_tenant as seed_hq
        from sandboxes.personio.seed import seed_tenant as seed_personio

        seed_hq(sb.url("hq"), TENANT, section["hq"])
        if args.hq_limit:
            sb.admin("hq").set_rate_limit(per_minute=args.hq_limit)
        if args.latency_ms:
            for method in ("POST", "PUT", "DELETE"):
                sb.admin("hq").add_fault(path="^/v1/", method=method, mode="delay", ratio=1.0, seconds=args.latency_ms / 1000)
        for source in (("awork", "personio") if args.source == "both" else (args.source,)):
            if source == "awork":
                from sandboxes.scenario import link_projects

                seed_awork(sb.url("awork"), TENANT, section["awork"])
                link_projects({v: sb.url(v) for v in ("hq", "awork")}, section)
            else:
                seed_personio(sb.url("personio"), TENANT, section["personio"])
            run(source, sb, Path(tmp), args.workers, args.hq_limit, args.runs)


if __name__ == "__main__":
    main()
