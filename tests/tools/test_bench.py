"""`make bench` (tools/bench.py) at a tiny scale: the JSON has its shape and its counts add up.

A smoke test of the benchmark tool, not a benchmark: nothing is timed against a limit here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO_ROOT


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hq_sync_bench", REPO_ROOT / "tools" / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_contract_minimum_formula() -> None:
    bench = _bench()
    records = {"personio": {"persons": 51, "absence_types": 12, "absence_periods": 701},
               "awork": {}, "hq": {"users": 1001}}
    first = bench.contract_minimum("personio", "first", records, {"hq": 650})
    # token + ceil(51/50) + ceil(12/100) + ceil(701/100); HQ: ceil(1001/1000) users + 650 writes
    assert first["personio"]["total"] == 1 + 2 + 1 + 8
    assert first["hq"] == {**first["hq"], "reads": 2, "writes": 650, "total": 652}
    unchanged = bench.contract_minimum("personio", "no_change", records, {"hq": 0})
    assert unchanged["personio"]["total"] == 1 + 3 and unchanged["hq"]["total"] == 0


def test_bench_runs_and_counts_add_up(tmp_path: Path) -> None:
    bench = _bench()
    out_file = tmp_path / "bench.json"
    assert bench.main(["--scale", "0.02", "--source", "hq_to_awork", "--settle", "0", "--no-throughput",
                       "--json", str(out_file)]) == 0
    out = json.loads(out_file.read_text())
    assert set(out) >= {"command", "machine", "scales", "targets", "elapsed_s"}
    runs = out["scales"]["0.02x"]["runs"]["hq_to_awork"]
    assert set(runs) == {"first", "no_change"}
    first = runs["first"]
    # The demo tenant flags one HQ project for awork: one awork project created, its link written to HQ.
    assert first["changed"] == {"awork": 1, "hq": 1}
    assert first["vendors"]["awork"]["requests"]["writes"] == 1
    assert first["vendors"]["hq"]["requests"]["writes"] == 1
    for vendor, v in first["vendors"].items():
        assert v["minimum"]["writes"] == first["changed"][vendor]
        assert v["ratio"] == round(v["requests"]["total"] / v["minimum"]["total"], 3)
    for run in runs.values():
        for name, step in run["steps"].items():
            # What the child process sent (requests.Session.send) is what the sandboxes logged.
            assert step["http_calls"] == sum(step["requests"].values()), name
            assert step["wall_s"] >= 0 and step["rss_peak_mb"] >= step["rss_baseline_mb"] > 0
            split = step["http_s"] + step["staging_s"] + step["rest_s"]
            assert abs(split - step["wall_s"]) < 0.05, (name, split, step["wall_s"])
        per_vendor = {v: sum(s["requests"].get(v, 0) for s in run["steps"].values()) for v in run["vendors"]}
        assert per_vendor == {v: d["requests"]["total"] for v, d in run["vendors"].items()}
    assert runs["no_change"]["changed"] == {"awork": 0, "hq": 0}
    assert runs["no_change"]["settled"] is False
    targets = {t["target"]: t for t in out["targets"]}
    assert len(targets) == 5 and all(t["verdict"] in ("PASS", "MISS", "FLOOR", "n/a") for t in targets.values())
    ratio = targets["first run requests / contract minimum, every vendor"]
    assert ratio["verdict"] in ("PASS", "MISS", "FLOOR") and ratio["value"] == max(v["ratio"] for v in first["vendors"].values())


def _first_run(bench: ModuleType, vendor: str, log: list[dict[str, str]], minimum: int) -> dict[str, object]:
    """A first run's vendor summary from a request log, as ``summarise_run`` builds it."""
    guards = [bench.safeguard(vendor, e) for e in log]
    safe = sum(1 for g in guards if g)
    return {"requests": {"total": len(log)}, "minimum": {"total": minimum}, "ratio": round(len(log) / minimum, 3),
            "safeguards": {g: guards.count(g) for g in set(guards) if g}, "floor": minimum + safe,
            "ratio_beyond_floor": round((len(log) - safe) / minimum, 3)}


def test_first_run_over_the_minimum_only_by_the_safeguards_is_at_the_floor() -> None:
    bench = _bench()
    listing = {"method": "GET", "path": "/v2/absence-periods", "query": "limit=100"}
    breakdown = {"method": "GET", "path": "/v2/absence-periods/4711/breakdowns", "query": ""}
    probe = {"method": "GET", "path": "/api/v1/timeentries", "query": "page=1&pageSize=1"}
    page = {"method": "GET", "path": "/api/v1/timeentries", "query": "page=1&pageSize=1000"}
    assert bench.endpoint(breakdown) == "GET /v2/absence-periods/{id}/breakdowns"
    assert bench.safeguard("personio", listing) is None and bench.safeguard("awork", page) is None
    personio = _first_run(bench, "personio", [listing] * 10 + [breakdown] * 2, minimum=10)
    awork = _first_run(bench, "awork", [page] * 31 + [probe] * 3, minimum=31)
    assert personio["floor"] == 12 and awork["floor"] == 34

    def judged(**vendors: object) -> dict[str, object]:
        out = {"scales": {"1x": {"scale": 1, "runs": {"personio": {"first": {"vendors": vendors, "steps": {}}}}}}}
        return next(t for t in bench.evaluate(out) if t["target"].startswith("first run"))

    at_floor = judged(personio=personio, awork=awork)
    assert at_floor["verdict"] == "FLOOR" and at_floor["value"] == 1.2 and at_floor["value_beyond_floor"] == 1.0
    assert "2 Personio day-end calibration" in at_floor["where"] and "3 awork filterby/orderby check" in at_floor["where"]
    # One request beyond the floor more than 5 % of the minimum: a miss, not the floor.
    over = _first_run(bench, "personio", [listing] * 11 + [breakdown] * 2, minimum=10)
    assert judged(personio=over)["verdict"] == "MISS"


def test_a_no_change_run_over_the_limit_only_by_personios_deletion_window_is_at_the_floor() -> None:
    bench = _bench()
    window = {"method": "GET", "path": "/v2/absence-periods", "query": "cursor=abc&limit=100"}
    count = {"method": "GET", "path": "/api/v1/timeentries",
             "query": "filterby=%28startDateUtc+ge+datetime%272026-01-01T00%3A00%3A00%27%29&page=1&pageSize=1"}
    assert bench.safeguard("awork", count) is None  # the deletion count is not issue 10's check

    def no_change(requests: int, window_pages: int, where: str = "reconcile_deletions") -> dict[str, object]:
        steps = {"extract": {"_log": {"personio": [window] * (requests - window_pages)}},
                 where: {"_log": {"personio": [window] * window_pages}}}
        return {"total_requests": requests, "no_change_floors": bench.no_change_floors(steps), "settled": True,
                "previous_run_since_seed_s": 9}

    def judged(run: dict[str, object]) -> dict[str, object]:
        out = {"scales": {"10x": {"scale": 10, "runs": {"personio": {"no_change": run}}}}}
        return next(t for t in bench.evaluate(out) if t["target"].startswith("no-change"))

    at_floor = judged(no_change(22, 18))
    assert (at_floor["verdict"], at_floor["value"], at_floor["value_beyond_floor"]) == ("FLOOR", 22, 4)
    assert "18 Personio deletion check" in at_floor["where"]
    assert judged(no_change(30, 18))["verdict"] == "MISS"  # 12 beyond the window's pages
    assert judged(no_change(22, 18, where="extract"))["verdict"] == "MISS"  # only the deletion check's listing counts
    assert judged(no_change(8, 0))["verdict"] == "PASS"
