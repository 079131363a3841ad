"""Lists: page/pageSize with the aw-* headers, filterby (each operator and literal), orderby,
case-insensitive names, unknown parameters ignored, invalid expressions."""

from __future__ import annotations

from typing import Any

import pytest

from .awork_helpers import AworkClient, AworkSandbox, make_entry, make_project, make_type


@pytest.fixture
def entries(aw: AworkSandbox, acme: AworkClient) -> dict[str, Any]:
    """Six time entries on 2026-03-02..07 across two projects and two users."""
    anna, ben = aw.user_id("acme", "anna@acme.de"), aw.user_id("acme", "ben@acme.de")
    tow = make_type(acme)["id"]
    web, app = make_project(acme, "Website")["id"], make_project(acme, "App", isBillableByDefault=False)["id"]
    created = []
    for day in range(2, 8):
        created.append(make_entry(
            acme, anna if day % 2 else ben, tow, projectId=web if day <= 4 else app,
            startDateUtc=f"2026-03-0{day}T00:00:00Z", duration=day * 600, note=f"Note {day}",
            isBilled=day == 3))
    return {"anna": anna, "ben": ben, "web": web, "app": app, "type": tow, "entries": created}


def ids(resp: Any) -> list[str]:
    return [e["id"] for e in resp.json()]


def test_pages_and_headers(acme: AworkClient, entries: dict[str, Any]) -> None:
    resp = acme.get("/timeentries", params={"page": 2, "pageSize": 4})
    assert resp.status_code == 200
    assert isinstance(resp.json(), list) and len(resp.json()) == 2
    assert resp.headers["aw-page"] == "2"
    assert resp.headers["aw-pagesize"] == "4"
    assert resp.headers["aw-items"] == "2"
    assert resp.headers["aw-totalitems"] == "6"
    past = acme.get("/timeentries", params={"page": 3, "pageSize": 4})
    assert past.json() == [] and past.headers["aw-totalitems"] == "6"


def test_default_page_size_is_1000_and_configurable(aw: AworkSandbox, acme: AworkClient,
                                                    entries: dict[str, Any]) -> None:
    resp = acme.get("/timeentries")
    assert resp.headers["aw-pagesize"] == "1000" and len(resp.json()) == 6
    aw.admin.put("/tenants/acme/settings", {"default_page_size": 10})
    assert acme.get("/timeentries").headers["aw-pagesize"] == "10"


def test_page_size_over_1000_is_clamped_or_refused(aw: AworkSandbox, acme: AworkClient,
                                                   entries: dict[str, Any]) -> None:
    assert acme.get("/timeentries", params={"pageSize": 5000}).headers["aw-pagesize"] == "1000"
    aw.admin.put("/tenants/acme/settings", {"page_size_over_max": "error"})
    resp = acme.get("/timeentries", params={"pageSize": 5000}, validate=False)
    assert resp.status_code == 400 and resp.json()["code"] == "validation-failed"


def test_parameter_names_are_case_insensitive_and_unknown_ones_ignored(acme: AworkClient,
                                                                        entries: dict[str, Any]) -> None:
    resp = acme.get("/TimeEntries", params={"PageSize": 2, "FilterBy": "duration gt 1000",
                                            "startDateUtc": "2000-01-01", "bogus": "x"}, validate=False)
    assert resp.status_code == 200
    assert resp.headers["aw-pagesize"] == "2" and resp.headers["aw-totalitems"] == "6"


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("duration eq 1800", [3]),
        ("duration ne 1800", [2, 4, 5, 6, 7]),
        ("duration gt 3600", [7]),
        ("duration ge 3600", [6, 7]),
        ("duration lt 1800", [2]),
        ("duration le 1800", [2, 3]),
        ("duration gt 1200 and duration lt 3600", [3, 4, 5]),
        ("duration eq 1200 or duration eq 4200", [2, 7]),
        ("not (duration gt 1200)", [2]),
        ("isBilled eq true", [3]),
        ("isBillable eq false", [5, 6, 7]),
        ("note eq 'NOTE 4'", [4]),
        ("substringof('te 6', note)", [6]),
        ("startswith(note, 'Note 7')", [7]),
        ("taskId eq null", [2, 3, 4, 5, 6, 7]),
        ("startDateUtc ge datetime'2026-03-04T00:00:00' and startDateUtc le datetime'2026-03-05T00:00'", [4, 5]),
        ("startDateUtc gt datetime'2026-03-06T00:00:00'", [7]),
        ("startDateUtc lt datetime'2026-03-03T00:00:00'", [2]),
        ("project/name eq 'App' and duration lt 4000", [5, 6]),
        ("(duration lt 1300 or duration gt 4000) and isBilled eq false", [2, 7]),
    ],
)
def test_filters(acme: AworkClient, entries: dict[str, Any], expression: str, days: list[int]) -> None:
    resp = acme.get("/timeentries", params={"filterby": expression, "orderby": "startDateUtc"})
    assert resp.status_code == 200, resp.text
    assert [int(e["startDateUtc"][8:10]) for e in resp.json()] == days
    assert resp.headers["aw-totalitems"] == str(len(days))


def test_guid_literals(acme: AworkClient, entries: dict[str, Any]) -> None:
    resp = acme.get("/timeentries", params={"filterby": f"projectId eq guid'{entries['web']}'"})
    assert len(resp.json()) == 3
    upper = entries["ben"].upper()
    resp = acme.get("/timeentries", params={"filterby": f"userId eq guid'{upper}'"})
    assert {e["userId"] for e in resp.json()} == {entries["ben"]} and len(resp.json()) == 3


def test_updated_on_filter_for_incremental_sync(acme: AworkClient, entries: dict[str, Any]) -> None:
    changed = entries["entries"][0]
    mark = changed["updatedOn"][:19]  # no zone suffix: the literal is UTC
    body = {"timezone": "Europe/Berlin", "typeOfWorkId": entries["type"], "startDateUtc": "2026-03-02T00:00:00Z",
            "startTimeUtc": "09:00:00", "duration": 60, "note": "edited", "projectId": entries["web"]}
    updated = acme.ok("PUT", f"/timeentries/{changed['id']}", body)
    assert updated["updatedOn"] > changed["updatedOn"]
    resp = acme.get("/timeentries", params={
        "filterby": f"updatedOn ge datetime'{updated['updatedOn'][:19]}'", "orderby": "updatedOn asc"})
    assert ids(resp)[-1] == changed["id"] and "edited" in [e["note"] for e in resp.json()]
    assert len(acme.get("/timeentries", params={"filterby": f"updatedOn ge datetime'{mark}'"}).json()) >= 1


def test_orderby(acme: AworkClient, entries: dict[str, Any]) -> None:
    desc = acme.get("/timeentries", params={"orderby": "duration desc"}).json()
    assert [e["duration"] for e in desc] == sorted((e["duration"] for e in desc), reverse=True)
    multi = acme.get("/timeentries", params={"orderby": "isBilled desc,Duration"}).json()
    assert multi[0]["isBilled"] is True
    assert [e["duration"] for e in multi[1:]] == sorted(e["duration"] for e in multi[1:])
    nested = acme.get("/timeentries", params={"orderby": "project/name,duration desc"}).json()
    assert [e["project"]["name"] for e in nested] == ["App"] * 3 + ["Website"] * 3


@pytest.mark.parametrize(
    "expression",
    [
        "projectId eq 12345678-aaaa-bbbb-cccc-ddddeeeeffff",  # bare GUID
        "startDateUtc ge 2026-03-01",  # bare date
        "projectId eq '12345678-aaaa-bbbb-cccc-ddddeeeeffff'",  # GUID property, string literal
        "startDateUtc ge '2026-03-01T00:00:00'",  # date property, string literal
        "nosuchfield eq 1",
        "duration eq",
        "duration in (1, 2)",
        "tags/any(t: t/name eq 'x')",
    ],
)
def test_invalid_filters_answer_invalid_filter_or_order(acme: AworkClient, entries: dict[str, Any],
                                                        expression: str) -> None:
    resp = acme.get("/timeentries", params={"filterby": expression}, validate=False)
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalid-filter-or-order" and body["link"] and body["description"]


def test_invalid_orderby(acme: AworkClient, entries: dict[str, Any]) -> None:
    for order in ("nosuchfield", "duration sideways", "project"):
        resp = acme.get("/timeentries", params={"orderby": order}, validate=False)
        assert resp.status_code == 400 and resp.json()["code"] == "invalid-filter-or-order"


def test_filters_on_other_lists(acme: AworkClient, entries: dict[str, Any]) -> None:
    resp = acme.get("/projects", params={"filterby": "isBillableByDefault eq false"})
    assert [p["name"] for p in resp.json()] == ["App"]
    resp = acme.get("/projects", params={"filterby": "trackedDuration gt 0"})
    assert [p["name"] for p in resp.json()] == ["Website"]  # App's entries are not billable
    resp = acme.get("/users", params={"filterby": "lastName eq 'berater'"})
    assert [u["firstName"] for u in resp.json()] == ["Ben"]


@pytest.mark.parametrize("position", ["honoured", "filter_ignored", "order_ignored", "ignored"])
def test_time_entries_query_switch(aw: AworkSandbox, acme: AworkClient, entries: dict[str, Any], position: str) -> None:
    """Issue #10: whether /timeentries honours filterby and orderby is unconfirmed."""
    aw.admin.put("/tenants/acme/settings", {"time_entries_query": position})
    created = [e["id"] for e in entries["entries"]]
    resp = acme.request("GET", "/timeentries", params={"filterby": "duration gt 3000", "orderby": "duration desc"})
    filtered = position in ("honoured", "order_ignored")
    ordered = position in ("honoured", "filter_ignored")
    expected = [e for e in created if not filtered or entries["entries"][created.index(e)]["duration"] > 3000]
    assert ids(resp) == (list(reversed(expected)) if ordered else expected)
    assert resp.headers["aw-totalitems"] == str(len(expected))
    # Only the workspace-wide list is affected.
    per_project = acme.request("GET", f"/projects/{entries['web']}/timeentries", params={"filterby": "duration gt 3000"})
    assert len(ids(per_project)) == 0


def test_years_before_1000_are_written_back_with_four_digits(acme: AworkClient) -> None:
    project = make_project(acme, "Antik", startDate="0999-03-01T00:00:00Z")
    assert project["startDate"] == "0999-03-01T00:00:00Z"
