"""Issue #10 switches of the Personio sandbox: /breakdowns, open-ended periods in date filters,
and empty filter values."""

from __future__ import annotations

import pytest


def _days(tenant, period_id, **params):
    data = tenant.list_all(f"/v2/absence-periods/{period_id}/breakdowns", **params)
    return [(d["date"], d["effective_duration"]["value"]) for d in data if d["effective_duration"]["unit"] == "DAY"]


@pytest.mark.parametrize("boundary", ["exclusive", "inclusive"])
def test_breakdowns_name_the_last_day_whatever_ends_at_says(personio, acme, boundary):
    personio.settings(day_end_boundary=boundary)
    # Thursday 11 June (from midday) to Monday 15 June 2026 (until midday).
    period = acme.period(acme.anna, acme.vacation, "2026-06-11", "2026-06-16" if boundary == "exclusive" else "2026-06-15",
                         start_type="SECOND_HALF", end_type="FIRST_HALF")
    assert _days(acme, period["id"]) == [
        ("2026-06-11", 0.5), ("2026-06-12", 1.0), ("2026-06-13", 0.0), ("2026-06-14", 0.0), ("2026-06-15", 0.5)]
    hours = [d for d in acme.list_all(f"/v2/absence-periods/{period['id']}/breakdowns") if d["effective_duration"]["unit"] == "HOUR"]
    assert hours[1] == {"date": "2026-06-12", "effective_duration": {"unit": "HOUR", "value": 8.0}}
    personio.settings(breakdown_weekends="omit")
    assert [d for d, _ in _days(acme, period["id"], limit=2)] == ["2026-06-11", "2026-06-12", "2026-06-15"]
    assert acme.get(f"/v2/absence-periods/{period['id']}-gone/breakdowns").status_code == 404


@pytest.mark.parametrize(("semantics", "open_ended", "found"), [
    ("overlap", "never_ends", True), ("literal", "never_ends", True),
    ("overlap", "excluded", False), ("literal", "excluded", False),
])
def test_open_ended_periods_under_every_filter_semantics(personio, acme, semantics, open_ended, found):
    personio.settings(date_filter_semantics=semantics, open_ended_in_filters=open_ended)
    sick = acme.period(acme.ben, acme.vacation, "2026-05-04", None)["id"]
    done = acme.period(acme.anna, acme.vacation, "2026-05-04", "2026-05-06")["id"]
    window = [p["id"] for p in acme.list_all("/v2/absence-periods", **{
        "ends_at.date_time.gte": "2026-05-01T00:00:00", "starts_from.date_time.lte": "2026-12-31T00:00:00"})]
    assert (sick in window) is found and done in window
    # starts_from.date_time.lte alone never reads the end: open-ended periods are always there.
    only_start = [p["id"] for p in acme.list_all("/v2/absence-periods", **{"starts_from.date_time.lte": "2026-12-31T00:00:00"})]
    assert {sick, done} <= set(only_start)


def test_an_empty_filter_value_is_refused(acme):
    resp = acme.get("/v2/absence-periods", **{"updated_at.gte": ""})
    assert resp.status_code == 400 and "updated_at.gte" in resp.json()["errors"][0]["detail"]
    assert acme.get("/v2/persons", email="").status_code == 400
