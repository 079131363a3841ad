"""Benchmark: change → HQ latency with webhooks in the demo setting (issue #14).

    make demo
    .venv/bin/python tools/bench_webhooks.py [--changes 20] [--max-gap 20] [--seed 1] [--tenant muster-agentur]

Needs ``make demo`` running (sandboxes, Airflow with the webhook receiver, the demo tenant's
webhooks registered). It edits ``--changes`` records of the tenant at random moments (gaps drawn
uniformly from 0..``--max-gap`` seconds), alternating a Personio absence (its end one day earlier:
``absence-period.updated.timerange``) and an awork time entry (15 minutes longer:
``timetracking_updated``), as a person would, through the vendors' APIs. Nobody triggers a DAG.

Latency of a change = from the vendor's answer to the edit until HQ confirmed the write of the new
version (the staging ``hq_links`` row of the record turns ``synced`` with the new source version;
it is written right after HQ's answer). Requests per change = the requests the sandboxes served to
the sync for the tenant during the measurement, divided by the changes (the tool's own edits are
not counted; the tenant's HQ → awork DAGs are paused meanwhile so only the sync of the changes is
measured). Prints a Markdown table and the runs Airflow made (by run type).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402

from hq_sync.ops.airflow_api import AirflowApi  # noqa: E402
from sandboxes import DEFAULT_PORTS  # noqa: E402

DATA = ROOT / ".data"
SANDBOX = {v: f"http://127.0.0.1:{p}" for v, p in DEFAULT_PORTS.items()}


@dataclass
class Change:
    vendor: str
    source_id: str
    old_version: str | None
    edited_at: float = 0.0
    synced_at: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.synced_at is None else self.synced_at - self.edited_at


@dataclass
class Vendors:
    tenant: str
    creds: dict[str, str]
    own: Counter[tuple[str, str]] = field(default_factory=Counter)  # requests this tool sent: (vendor, read|write|token)

    def __post_init__(self) -> None:
        self.personio = requests.Session()
        token = self.personio.post(f"{SANDBOX['personio']}/v2/auth/token", data={
            "grant_type": "client_credentials", "client_id": self.creds["personio_client_id"],
            "client_secret": self.creds["personio_client_secret"]}, timeout=10).json()["access_token"]
        self.own[("personio", "token")] += 1
        self.personio.headers["Authorization"] = f"Bearer {token}"
        self.awork = requests.Session()
        self.awork.headers["Authorization"] = f"Bearer {self.creds['awork_api_key']}"

    def periods(self) -> list[dict[str, Any]]:
        items, url = [], f"{SANDBOX['personio']}/v2/absence-periods?limit=100"
        while url:
            body = self.personio.get(url, timeout=30).json()
            self.own[("personio", "read")] += 1
            items += body["_data"]
            url = (body["_meta"]["links"].get("next") or {}).get("href") if body["_data"] else None
        return items

    def shorten_period(self, period: dict[str, Any]) -> None:
        end = datetime.fromisoformat(period["ends_at"]["date_time"]) - timedelta(days=1)
        resp = self.personio.patch(f"{SANDBOX['personio']}/v2/absence-periods/{period['id']}",
                                   json={"ends_at": {"date_time": end.isoformat(), "type": None}}, timeout=10)
        self.own[("personio", "write")] += 1
        resp.raise_for_status()

    def lengthen_entry(self, entry_id: str) -> None:
        base = f"{SANDBOX['awork']}/api/v1/timeentries/{entry_id}"
        e = self.awork.get(base, timeout=10).json()
        body = {"timezone": e["timezone"], "typeOfWorkId": e["typeOfWorkId"], "userId": e["userId"],
                "projectId": e.get("projectId"), "taskId": e.get("taskId"),
                "startDateUtc": f"{e['startDateUtc'][:10]}T{e['startTimeUtc']}Z", "duration": e["duration"] + 900,
                "note": e.get("note"), "isBillable": e.get("isBillable", True)}
        resp = self.awork.put(base, json=body, timeout=10)
        self.own[("awork", "read")] += 1
        self.own[("awork", "write")] += 1
        resp.raise_for_status()


def links(engine: sa.Engine, tenant: str, source: str, entity: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source_id, state, written FROM hq_links WHERE tenant = :t AND source = :s AND entity = :e"),
            {"t": tenant, "s": source, "e": entity}).mappings().all()
    result = {}
    for row in rows:
        written = row["written"]
        written = json.loads(written) if isinstance(written, str) else (written or {})
        result[row["source_id"]] = {"state": row["state"], "version": (written or {}).get("version")}
    return result


def candidates(vendors: Vendors, engine: sa.Engine, tenant: str, wanted: int, rnd: random.Random) -> list[Change]:
    """Records the sync wrote to HQ, that can be edited without side effects."""
    synced_periods = {k: v for k, v in links(engine, tenant, "personio", "absence_period").items() if v["state"] == "synced"}
    today = date.today()
    periods = [p for p in vendors.periods() if p["id"] in synced_periods and p.get("ends_at")
               and (p.get("approval") or {}).get("status") == "APPROVED"
               and (p.get("starts_from") or {}).get("date_time", "")[11:19] == "00:00:00"
               and date.fromisoformat(p["starts_from"]["date_time"][:10]) > today
               and (datetime.fromisoformat(p["ends_at"]["date_time"]) - datetime.fromisoformat(p["starts_from"]["date_time"])).days >= 3]
    entries = [k for k, v in links(engine, tenant, "awork", "time_entry").items() if v["state"] == "synced"]
    rnd.shuffle(periods)
    rnd.shuffle(entries)
    out: list[Change] = []
    for i in range(wanted):
        if i % 2 == 0 and periods:
            p = periods.pop()
            change = Change("personio", p["id"], synced_periods[p["id"]]["version"])
            change.record = p  # type: ignore[attr-defined]
        else:
            e = entries.pop()
            change = Change("awork", e, None)
        out.append(change)
    return out


def sandbox_log_position(vendor: str) -> int:
    log = requests.get(f"{SANDBOX[vendor]}/_sandbox/requests", timeout=30).json()["requests"]
    return log[-1]["seq"] if log else 0


def sync_requests(vendor: str, since: int, tenant: str) -> Counter[str]:
    log = requests.get(f"{SANDBOX[vendor]}/_sandbox/requests", params={"since": since}, timeout=30).json()["requests"]
    kinds: Counter[str] = Counter()
    for r in log:
        if r.get("tenant") not in (tenant, None):
            continue
        kind = "token" if "/auth/" in r["path"] or "accounts/token" in r["path"] else (
            "read" if r["method"] == "GET" else "write")
        kinds[kind] += 1
    return kinds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", default="muster-agentur")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--max-gap", type=float, default=20.0, help="seconds between two edits: uniform 0..max")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a change after this long")
    parser.add_argument("--airflow-url", default="http://localhost:8080")
    args = parser.parse_args(argv)

    creds = json.loads((DATA / "demo-credentials.json").read_text())[args.tenant]
    engine = sa.create_engine(f"sqlite:///{DATA / 'staging.sqlite'}")
    api = AirflowApi(args.airflow_url, username="admin", password="admin")
    vendors = Vendors(args.tenant, creds)
    rnd = random.Random(args.seed)
    changes = candidates(vendors, engine, args.tenant, args.changes, rnd)
    side_dags = [f"hq_to_awork__{args.tenant}", f"hq_offer_to_awork__{args.tenant}"]
    for dag_id in side_dags:
        api.set_paused(dag_id, True)
    sync_dags = [f"personio_absences__{args.tenant}", f"awork_times__{args.tenant}"]
    runs_before = {d: {r["dag_run_id"] for r in api.dag_runs(d)} for d in sync_dags}
    positions = {v: sandbox_log_position(v) for v in ("personio", "awork", "hq")}
    own_before = Counter(vendors.own)
    started = time.monotonic()
    bench_started = datetime.now(tz=UTC).isoformat(timespec="milliseconds")
    print(f"editing {len(changes)} records of {args.tenant} at random moments (gaps 0..{args.max_gap:g}s)", flush=True)
    try:
        pending = list(changes)
        next_edit = time.monotonic()
        while pending or any(c.synced_at is None and time.monotonic() - c.edited_at < args.timeout for c in changes if c.edited_at):
            now = time.monotonic()
            if pending and now >= next_edit:
                change = pending.pop(0)
                if change.vendor == "personio":
                    vendors.shorten_period(change.record)  # type: ignore[attr-defined]
                else:
                    change.old_version = links(engine, args.tenant, "awork", "time_entry")[change.source_id]["version"]
                    vendors.lengthen_entry(change.source_id)
                change.edited_at = time.monotonic()
                next_edit = change.edited_at + rnd.uniform(0, args.max_gap)
            for source, entity in (("personio", "absence_period"), ("awork", "time_entry")):
                waiting = [c for c in changes if c.vendor == source and c.edited_at and c.synced_at is None]
                if not waiting:
                    continue
                current = links(engine, args.tenant, source, entity)
                for c in waiting:
                    link = current.get(c.source_id) or {}
                    if link.get("state") == "synced" and link.get("version") != c.old_version:
                        c.synced_at = time.monotonic()
                        print(f"  {c.vendor:<8} {c.source_id[:8]}… in HQ after {c.latency:5.1f}s", flush=True)
            time.sleep(0.25)
    finally:
        for dag_id in side_dags:
            api.set_paused(dag_id, False)
    elapsed = time.monotonic() - started
    own = vendors.own - own_before
    counts = {v: sync_requests(v, positions[v], args.tenant) for v in ("personio", "awork", "hq")}
    for (vendor, kind), n in own.items():  # this tool's edits are not the sync's requests
        counts[vendor][kind] -= n
    runs = Counter()
    for dag_id in sync_dags:
        for r in api.dag_runs(dag_id):
            if r["dag_run_id"] not in runs_before[dag_id]:
                runs[(dag_id.split("__")[0], r["run_type"])] += 1

    latencies = [c.latency for c in changes if c.latency is not None]
    lost = [c for c in changes if c.latency is None]
    n = len(changes)
    print()
    print("| changes | in HQ | p50 | p95 | max | source reads/change | source tokens | HQ reads/change | HQ writes/change | runs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    src_reads = counts["personio"]["read"] + counts["awork"]["read"]
    tokens = counts["personio"]["token"] + counts["awork"]["token"]
    print(f"| {n} ({sum(c.vendor == 'personio' for c in changes)} Personio, {sum(c.vendor == 'awork' for c in changes)} awork) "
          f"| {len(latencies)} | {percentile(latencies, 0.5):.1f}s | {percentile(latencies, 0.95):.1f}s | {max(latencies):.1f}s "
          f"| {src_reads / n:.2f} | {tokens} | {counts['hq']['read'] / n:.2f} | {counts['hq']['write'] / n:.2f} "
          f"| {', '.join(f'{k[0]} {k[1]}: {v}' for k, v in sorted(runs.items()))} |")
    for source in ("personio", "awork"):
        part = [c.latency for c in changes if c.vendor == source and c.latency is not None]
        if part:
            print(f"\n{source}: {len(part)} changes, p50 {percentile(part, 0.5):.1f}s, p95 {percentile(part, 0.95):.1f}s, "
                  f"max {max(part):.1f}s")
    print(f"\nrequests by vendor (the sync's): { {v: dict(c) for v, c in counts.items()} }; measured over {elapsed:.0f}s")
    answers, retried = [], 0
    for vendor in ("personio", "awork"):
        for d in requests.get(f"{SANDBOX[vendor]}/_sandbox/webhooks/deliveries", params={"tenant": args.tenant},
                              timeout=30).json()["deliveries"]:
            if d["created_at"] >= bench_started:
                answers += [a["ms"] for a in d["attempts"]]
                retried += len(d["attempts"]) > 1
    if answers:
        print(f"receiver answers to {len(answers)} deliveries: p50 {percentile(answers, 0.5):.0f} ms, "
              f"p95 {percentile(answers, 0.95):.0f} ms, max {max(answers):.0f} ms; {retried} deliveries needed a retry")
    if lost:
        print(f"NOT in HQ within {args.timeout:.0f}s: {[(c.vendor, c.source_id) for c in lost]}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
