"""Performance: a filtered page of 1000 time entries answers well under a second.

The demo has ~15k entries per tenant (25 users x a year); loading that takes ~15 s, so this test
uses 4,000 entries and a 0.5 s budget (filtering is linear; rendering is per page). Set
``AWORK_PERF_ENTRIES=15000`` to run it at demo scale.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta

import pytest

from sandboxes.awork.seed import seed_tenant

from .awork_helpers import AworkSandbox

ENTRIES_PER_USER_DAY = 2


@pytest.mark.serial  # a time budget: alone on the cores
def test_filtered_page_of_1000_is_fast(aw: AworkSandbox) -> None:
    wanted = int(os.environ.get("AWORK_PERF_ENTRIES", "4000"))
    users = 25
    weekdays = max(1, wanted // (users * ENTRIES_PER_USER_DAY))
    end = _add_weekdays("2025-01-01", weekdays)
    section = {
        "credentials": {"api_keys": ["perf-key"]},
        "users": [{"first_name": f"User{i}", "last_name": "Perf", "email": f"u{i}@perf.de"} for i in range(users)],
        "types_of_work": ["Konzeption", "Design"],
        "companies": ["Perf GmbH"],
        "projects": [{"name": f"Projekt {p}", "company": "Perf GmbH", "task_lists": ["Konzeption [5,4d]"],
                      "tasks": [{"name": f"Aufgabe {t}", "lists": ["Konzeption [5,4d]"], "type_of_work": "Design"}
                                for t in range(8)]} for p in range(10)],
        "generate_time_entries": {"from": "2025-01-01", "to": end, "per_day": ENTRIES_PER_USER_DAY, "seed": 5},
    }
    seed_tenant(aw.url, "perf", section)
    client = aw.client("perf-key")
    total = int(client.get("/timeentries", params={"pageSize": 1}, validate=False).headers["aw-totalitems"])
    assert total >= wanted * 0.9
    queries = [
        {"filterby": "updatedOn ge datetime'2020-01-01T00:00:00'", "orderby": "updatedOn asc"},
        {"filterby": "startDateUtc ge datetime'2025-01-01T00:00:00' and startDateUtc le datetime'2026-01-01T00:00:00'"},
        {"filterby": "isBilled eq false and duration gt 0", "orderby": "startDateUtc desc"},
    ]
    for query in queries:
        started = time.perf_counter()
        resp = client.get("/timeentries", params={**query, "pageSize": 1000, "page": 2}, validate=False)
        elapsed = time.perf_counter() - started
        assert resp.status_code == 200 and len(resp.json()) == 1000
        assert elapsed < 0.5, f"{query} took {elapsed:.3f}s"


def _add_weekdays(start: str, weekdays: int) -> str:
    day = date.fromisoformat(start)
    counted = 0
    while True:
        if day.weekday() < 5:
            counted += 1
            if counted == weekdays:
                return day.isoformat()
        day += timedelta(days=1)
