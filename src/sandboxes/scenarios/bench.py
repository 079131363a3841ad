"""The benchmark scenario (issue #12): one demo tenant at a scale factor.

``bench_scenario(scale)`` is the demo tenant ``muster-agentur`` (``sandboxes.scenarios.demo``)
with ``scale`` times its people (in Personio and HQ; in awork 4 in 5 of them, as in the demo), and
so about ``scale`` times its absences (Personio), time entries (awork) and the reportings and
absences they become in HQ. Projects, lists, tasks, types
and the rules of product.md stay as in the demo. Below 1x the demo needs at least 8 people (person
7 is the one without HQ user): there the time entries are cut to fewer days instead, so that the
entries still shrink with the scale (the absences shrink only down to 8 people's).

Deterministic: the same scale gives the same data (on the same day: the demo's entries end today).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sandboxes.scenarios.demo import TENANTS, YEAR, _tenant

DEMO_PERSONS = 25
MIN_PERSONS = 8
BENCH_TENANT = "muster-agentur"
AWORK_SHARE = 20 / 25  # the demo's people with an awork account


def scaled_size(scale: float, today: date | None = None) -> tuple[int, int | None]:
    """(persons, entry_days) of the demo tenant at ``scale`` (entry_days None: the whole year)."""
    if scale <= 0:
        raise ValueError(f"the scale factor must be positive, got {scale}")
    wanted = DEMO_PERSONS * scale
    persons = max(MIN_PERSONS, round(wanted))
    if persons == round(wanted):
        return persons, None
    today = today or date.today()
    year_days = (min(today, date(YEAR, 12, 31)) - date(YEAR, 1, 1)).days + 1
    return persons, max(1, round(year_days * wanted / persons))


def bench_scenario(scale: float = 1.0, tenant: str = BENCH_TENANT) -> dict[str, Any]:
    """A scenario with the one demo tenant ``tenant`` at ``scale`` times the demo's size."""
    persons, entry_days = scaled_size(scale)
    section = _tenant(tenant, TENANTS[tenant], persons, entry_days)
    # The demo gives its first 20 people (of 25) an awork account, plus a freelancer: at scale, the
    # same share (4 in 5), so that the time entries grow with the people.
    users = section["awork"]["users"]
    freelancer = users[-1]
    people = section["personio"]["persons"]
    with_awork = max(len(users) - 1, round(persons * AWORK_SHARE))
    added = [
        {"first_name": p["first_name"], "last_name": p["last_name"], "email": p["email"]}
        for p in people[len(users) - 1 : with_awork]
    ]
    section["awork"]["users"] = [*users[:-1], *added, freelancer]
    return {"tenants": [section]}
