"""GET /v2/absence-periods: shapes, cursor pagination and every filter."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest


def _ids(tenant, **params):
    return [p["id"] for p in tenant.list_all("/v2/absence-periods", **params)]


def test_day_period_shape_with_exclusive_end_and_half_day_markers(acme):
    period = acme.period(acme.anna, acme.vacation, "2026-06-10", "2026-06-13",
                         start_type="SECOND_HALF", end_type="FIRST_HALF", comment="summer break")
    # Absent 10 (from midday) to 12 June (until midday): ends_at is midnight after the last day.
    assert period["starts_from"] == {"date_time": "2026-06-10T00:00:00", "type": "SECOND_HALF"}
    assert period["ends_at"] == {"date_time": "2026-06-13T00:00:00", "type": "FIRST_HALF"}
    assert period["person"] == {"id": acme.anna["id"]}
    assert period["absence_type"] == {"id": acme.vacation["id"]}
    assert period["timezone_id"] == "Europe/Berlin"
    assert period["comment"] == "summer break"
    assert period["approval"] == {"status": "APPROVED"}
    assert period["created_at"].endswith("Z") and period["updated_at"] == period["created_at"]


def test_null_markers_open_ended_and_hour_periods(acme):
    full = acme.period(acme.anna, acme.vacation, "2026-07-01", "2026-07-02",
                       start_type=None, end_type=None)
    assert full["starts_from"]["type"] is None and full["ends_at"]["type"] is None
    sick = acme.period(acme.ben, acme.vacation, "2026-08-01", None)
    assert sick["ends_at"] is None
    visit = acme.period(acme.anna, acme.doctor, "2026-07-06T09:00:00", "2026-07-06T11:30:00",
                        start_type=None, end_type=None)
    assert visit["starts_from"] == {"date_time": "2026-07-06T09:00:00", "type": None}
    assert visit["ends_at"] == {"date_time": "2026-07-06T11:30:00", "type": None}


def test_inclusive_end_boundary_switch(personio, acme):
    period = acme.period(acme.anna, acme.vacation, "2026-06-05", "2026-06-06")
    personio.settings(day_end_boundary="inclusive")
    seen = acme.get_ok(f"/v2/absence-periods/{period['id']}")
    assert seen["ends_at"]["date_time"] == "2026-06-05T00:00:00"  # the same single day
    # Writes follow the switch too: an inclusive single day ends on its own date.
    again = acme.period(acme.anna, acme.vacation, "2026-06-08", "2026-06-08")
    assert again["ends_at"]["date_time"] == "2026-06-08T00:00:00"
    personio.settings(day_end_boundary="exclusive")
    assert acme.get_ok(f"/v2/absence-periods/{again['id']}")["ends_at"]["date_time"] == \
        "2026-06-09T00:00:00"


def test_cursor_pagination_follows_next_href_to_the_end(acme):
    start = date(2026, 1, 5)
    created = []
    for i in range(25):
        day = start + timedelta(days=2 * i)
        created.append(acme.period(acme.anna, acme.vacation, day.isoformat(),
                                   (day + timedelta(days=1)).isoformat())["id"])
    page = acme.get_ok("/v2/absence-periods", limit=10)
    assert len(page["_data"]) == 10
    href = page["_meta"]["links"]["next"]["href"]
    assert href.startswith(acme.sandbox.url + "/v2/absence-periods?")  # absolute
    assert "cursor=cur_" in href and "limit=10" in href
    assert page["_meta"]["links"]["self"]["href"].startswith(acme.sandbox.url)
    assert _ids(acme, limit=10) == created
    assert len(acme.get_ok("/v2/absence-periods")["_data"]) == 25  # default limit 100


def test_the_cursor_carries_the_filters_and_survives_concurrent_writes(acme):
    for i in range(4):
        acme.period(acme.anna, acme.vacation, f"2026-03-0{2 * i + 1}", f"2026-03-0{2 * i + 2}")
        acme.period(acme.ben, acme.vacation, f"2026-03-0{2 * i + 1}", f"2026-03-0{2 * i + 2}")
    first = acme.get_ok("/v2/absence-periods", limit=3, **{"person.id": acme.ben["id"]})
    assert {p["person"]["id"] for p in first["_data"]} == {acme.ben["id"]}
    # A period created meanwhile does not shift the pages; it appears at the end.
    late = acme.period(acme.ben, acme.vacation, "2026-04-01", "2026-04-02")
    rest = acme.get_ok(first["_meta"]["links"]["next"]["href"])  # no filter in the query
    assert {p["person"]["id"] for p in rest["_data"]} == {acme.ben["id"]}
    assert len(first["_data"]) + len(rest["_data"]) == 5
    assert rest["_data"][-1]["id"] == late["id"]


def test_invalid_cursor_and_limits(acme):
    assert acme.get("/v2/absence-periods", cursor="cur_garbage").status_code == 400
    assert acme.get("/v2/absence-periods", cursor="nonsense").status_code == 400
    # A persons cursor is not an absence-periods cursor.
    for i in range(3):
        acme.person(f"x{i}@acme.test")
    persons_next = acme.get_ok("/v2/persons", limit=1)["_meta"]["links"]["next"]["href"]
    cursor = persons_next.split("cursor=")[1].split("&")[0]
    assert acme.get("/v2/absence-periods", cursor=cursor).status_code == 400
    too_big = acme.get("/v2/absence-periods", limit=101)
    assert too_big.status_code == 400
    assert too_big.json()["errors"][0]["title"] == "Bad Request"
    assert acme.get("/v2/absence-periods", limit=100).status_code == 200


def test_person_type_and_id_filters(acme):
    a = acme.period(acme.anna, acme.vacation, "2026-05-04", "2026-05-05")["id"]
    b = acme.period(acme.ben, acme.vacation, "2026-05-04", "2026-05-05")["id"]
    c = acme.period(acme.anna, acme.doctor, "2026-05-06T08:00:00", "2026-05-06T10:00:00",
                    start_type=None, end_type=None)["id"]
    assert _ids(acme, **{"person.id": acme.anna["id"]}) == [a, c]
    assert _ids(acme, **{"person.id": f"{acme.anna['id']},{acme.ben['id']}"}) == [a, b, c]
    # Repeated keys work as well as comma lists.
    both = acme.get_ok(f"/v2/absence-periods?person.id={acme.anna['id']}&person.id={acme.ben['id']}")
    assert [p["id"] for p in both["_data"]] == [a, b, c]
    assert _ids(acme, **{"absence_type.id": acme.doctor["id"]}) == [c]
    assert _ids(acme, id=f"{a},{c}") == [a, c]
    assert _ids(acme, **{"person.id": acme.ben["id"], "absence_type.id": acme.doctor["id"]}) == []


@pytest.fixture
def calendar(acme):
    """Periods of June 2026 (exclusive ends): early [1,3), spanning [9,12), late [20,22), open [25,-)."""
    ids = {
        "early": acme.period(acme.anna, acme.vacation, "2026-06-01", "2026-06-03")["id"],
        "spanning": acme.period(acme.anna, acme.vacation, "2026-06-09", "2026-06-12")["id"],
        "late": acme.period(acme.anna, acme.vacation, "2026-06-20", "2026-06-22")["id"],
        "open": acme.period(acme.ben, acme.vacation, "2026-06-25", None)["id"],
    }
    return acme, ids


def _names(ids, found):
    return sorted(name for name, pid in ids.items() if pid in found)


def test_date_filters_match_periods_overlapping_the_window(calendar):
    acme, ids = calendar
    window = {"starts_from.date_time.gte": "2026-06-10T00:00:00",
              "ends_at.date_time.lte": "2026-06-21T00:00:00"}
    # "spanning" starts before the window and "late" ends after it: both overlap it.
    assert _names(ids, _ids(acme, **window)) == ["late", "spanning"]
    # The peers' other window form: starts_from gte/lte.
    assert _names(ids, _ids(acme, **{"starts_from.date_time.gte": "2026-06-10T00:00:00",
                                     "starts_from.date_time.lte": "2026-06-21T00:00:00"})) == \
        ["late", "spanning"]
    # And the reconciliation form: ends_at.gte=window start, starts_from.lte=window end.
    assert _names(ids, _ids(acme, **{"ends_at.date_time.gte": "2026-06-10T00:00:00",
                                     "starts_from.date_time.lte": "2026-06-30T00:00:00"})) == \
        ["late", "open", "spanning"]


def test_each_date_filter_alone(calendar):
    acme, ids = calendar
    assert _names(ids, _ids(acme, **{"starts_from.date_time.lte": "2026-06-09T00:00:00"})) == \
        ["early", "spanning"]
    assert _names(ids, _ids(acme, **{"ends_at.date_time.gte": "2026-06-22T00:00:00"})) == \
        ["late", "open"]  # an open-ended period never ends
    assert _names(ids, _ids(acme, **{"starts_from.date_time.gte": "2026-06-12T00:00:00"})) == \
        ["late", "open", "spanning"]  # overlap: spanning ends exactly at the bound
    assert _names(ids, _ids(acme, **{"ends_at.date_time.lte": "2026-06-05T00:00:00"})) == \
        ["early"]


def test_literal_date_filter_semantics_switch(personio, calendar):
    acme, ids = calendar
    personio.settings(date_filter_semantics="literal")
    window = {"starts_from.date_time.gte": "2026-06-10T00:00:00",
              "ends_at.date_time.lte": "2026-06-21T00:00:00"}
    assert _names(ids, _ids(acme, **window)) == []  # nothing lies fully inside
    assert _names(ids, _ids(acme, **{"starts_from.date_time.gte": "2026-06-09T00:00:00",
                                     "ends_at.date_time.lte": "2026-06-22T00:00:00"})) == \
        ["late", "spanning"]


def test_date_filters_accept_dates_offsets_and_milliseconds(calendar):
    acme, ids = calendar
    # 2026-06-21T22:00:00Z is midnight of 22 June in Berlin (summer time).
    assert _names(ids, _ids(acme, **{"starts_from.date_time.gte": "2026-06-22T00:00:00.000",
                                     "ends_at.date_time.lte": "2026-06-21T22:00:00Z"})) == ["late"]
    assert _names(ids, _ids(acme, **{"starts_from.date_time.lte": "2026-06-02"})) == ["early"]
    bad = acme.get("/v2/absence-periods", **{"starts_from.date_time.gte": "June"})
    assert bad.status_code == 400
    assert "starts_from.date_time.gte" in bad.json()["errors"][0]["detail"]


def test_updated_at_filters_find_changed_periods(acme):
    old = acme.period(acme.anna, acme.vacation, "2026-02-02", "2026-02-03")
    other = acme.period(acme.ben, acme.vacation, "2026-02-02", "2026-02-03")
    time.sleep(0.01)
    mark = other["updated_at"]
    patched = acme.request("PATCH", f"/v2/absence-periods/{old['id']}", json={"comment": "moved"})
    assert patched.status_code == 200
    assert _ids(acme, **{"updated_at.gte": mark}) == [old["id"], other["id"]]  # gte: inclusive
    after = acme.list_all("/v2/absence-periods", **{"updated_at.gte": patched.json()["updated_at"]})
    assert [p["id"] for p in after] == [old["id"]]
    assert _ids(acme, **{"updated_at.lte": mark}) == [other["id"]]
    # PostHog's form: a Z-suffixed date-time; a zone-less value counts as UTC.
    z_form = patched.json()["updated_at"][:19] + "Z"
    assert old["id"] in _ids(acme, **{"updated_at.gte": z_form})
    assert _ids(acme, **{"updated_at.gte": "2999-01-01T00:00:00"}) == []
