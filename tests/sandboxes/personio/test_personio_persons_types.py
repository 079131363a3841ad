"""/v2/persons and /v2/absence-types: listing, limits, filters, single reads."""

from __future__ import annotations

import datetime
import time


def _persons(tenant, count):
    return [tenant.person(f"p{i:02d}@acme.test", f"First{i}", f"Last{i}") for i in range(count)]


def test_persons_page_with_default_limit_10_and_follow_next(personio):
    tenant = personio.tenant("acme")
    created = _persons(tenant, 12)
    first = tenant.get_ok("/v2/persons")
    assert len(first["_data"]) == 10
    next_href = first["_meta"]["links"]["next"]["href"]
    assert next_href.startswith(personio.url + "/v2/persons?cursor=")
    second = tenant.get_ok(next_href)
    assert len(second["_data"]) == 2
    assert "next" not in second["_meta"]["links"]
    assert [p["id"] for p in first["_data"] + second["_data"]] == [p["id"] for p in created]


def test_persons_limit_is_1_to_50(personio):
    tenant = personio.tenant("acme")
    _persons(tenant, 3)
    assert len(tenant.get_ok("/v2/persons", limit=50)["_data"]) == 3
    for bad in (51, 0, "ten"):
        resp = tenant.get("/v2/persons", limit=bad)
        assert resp.status_code == 400, bad
        assert "limit" in resp.json()["errors"][0]["detail"]


def test_person_shape_and_single_read(personio):
    tenant = personio.tenant("acme")
    anna = tenant.person("Anna.Schmidt@acme.test", "Anna", "Schmidt", preferred_name="Anni",
                         gender="FEMALE")
    assert anna["id"].isdigit()
    got = tenant.get_ok(f"/v2/persons/{anna['id']}")
    assert got == anna
    assert got["email"] == "Anna.Schmidt@acme.test"
    assert got["status"] == "ACTIVE"
    assert got["preferred_name"] == "Anni"
    missing = tenant.get("/v2/persons/999999999")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["type"].endswith("common.requested_resource_not_found")


def test_persons_filters(personio):
    tenant = personio.tenant("acme")
    anna = tenant.person("anna@acme.test", "Anna", "Schmidt")
    ben = tenant.person("ben@acme.test", "Ben", "Meyer", status="INACTIVE")
    carl = tenant.person("carl@acme.test", "Carl", "Schmidt")

    def ids(**params):
        return [p["id"] for p in tenant.list_all("/v2/persons", **params)]

    assert ids(email="ANNA@acme.test") == [anna["id"]]
    assert ids(email="anna@acme.test,carl@acme.test") == [anna["id"], carl["id"]]
    assert ids(status="INACTIVE") == [ben["id"]]
    assert ids(status="ACTIVE") == [anna["id"], carl["id"]]
    assert ids(last_name="Schmidt") == [anna["id"], carl["id"]]
    assert ids(first_name="Ben") == [ben["id"]]
    assert ids(id=f"{anna['id']},{ben['id']}") == [anna["id"], ben["id"]]
    assert tenant.get("/v2/persons", status="GONE").status_code == 400
    # updated_at.gt is strict: a person changed later is found, the rest is not.
    mark = carl["updated_at"]
    time.sleep(0.01)
    changed = personio.admin._call("PATCH", f"/tenants/acme/persons/{ben['id']}",
                                   json={"email": "ben.meyer@acme.test"})
    assert changed["updated_at"] > mark
    assert ids(**{"updated_at.gt": mark}) == [ben["id"]]
    assert ids(**{"updated_at.lt": mark}) == [anna["id"]]
    assert ids(**{"created_at.gt": anna["created_at"]}) == [ben["id"], carl["id"]]
    assert tenant.get("/v2/persons", **{"updated_at.gt": "yesterday"}).status_code == 400


def test_absence_types_list_and_single_read(personio):
    tenant = personio.tenant("acme")
    vacation = tenant.absence_type("Urlaub", "DAY", "paid_vacation")
    doctor = tenant.absence_type("Arzttermin", "HOUR", "OTHER")
    custom = tenant.absence_type("Workation (custom)", "DAY", None)
    listed = tenant.get_ok("/v2/absence-types")
    assert listed["_data"] == [vacation, doctor, custom]
    assert vacation == {"id": vacation["id"], "name": "Urlaub", "category": "PAID_VACATION",
                        "unit": "DAY"}
    assert doctor["unit"] == "HOUR"
    assert custom["category"] is None
    assert tenant.get_ok(f"/v2/absence-types/{doctor['id']}") == doctor
    assert tenant.get("/v2/absence-types/nope").status_code == 404


def test_absence_types_limit_is_1_to_100_with_cursor_paging(personio):
    tenant = personio.tenant("acme")
    for i in range(3):
        tenant.absence_type(f"Type {i}")
    page = tenant.get_ok("/v2/absence-types", limit=2)
    assert len(page["_data"]) == 2
    rest = tenant.get_ok(page["_meta"]["links"]["next"]["href"])
    assert [t["name"] for t in rest["_data"]] == ["Type 2"]
    assert tenant.get("/v2/absence-types", limit=101).status_code == 400
    assert tenant.get("/v2/absence-types", limit=100).status_code == 200


def test_persons_date_filters_date_only_refuses_a_time_and_reads_a_date_as_its_midnight(personio):
    """Switch ``person_date_filters = date_only`` (pysonio: the date filters take dates only)."""
    tenant = personio.tenant("acme")
    anna = tenant.person("anna@acme.test", "Anna", "Schmidt")
    personio.settings(person_date_filters="date_only")
    resp = tenant.get("/v2/persons", **{"updated_at.gt": anna["updated_at"]})
    assert resp.status_code == 400 and "YYYY-MM-DD" in resp.json()["errors"][0]["detail"]
    today = anna["updated_at"][:10]
    yesterday = (datetime.date.fromisoformat(today) - datetime.timedelta(days=1)).isoformat()
    assert [p["id"] for p in tenant.list_all("/v2/persons", **{"updated_at.gt": yesterday})] == [anna["id"]]
    assert tenant.list_all("/v2/persons", **{"created_at.lt": yesterday}) == []
