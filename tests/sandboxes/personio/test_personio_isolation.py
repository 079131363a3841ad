"""Tenant isolation: a token of one tenant never sees or changes another tenant's data."""

from __future__ import annotations

import requests


def test_a_token_sees_and_changes_only_its_own_tenant(personio):
    acme = personio.tenant("acme")
    globex = personio.tenant("globex")
    anna = acme.person("anna@acme.test")
    hank = globex.person("hank@globex.test", "Hank", "Scorpio")
    vacation = acme.absence_type("Urlaub")
    leave = globex.absence_type("Leave")
    mine = acme.period(anna, vacation, "2026-06-01", "2026-06-02")
    theirs = globex.period(hank, leave, "2026-06-01", "2026-06-02")

    assert [p["id"] for p in acme.list_all("/v2/persons")] == [anna["id"]]
    assert [t["id"] for t in acme.list_all("/v2/absence-types")] == [vacation["id"]]
    assert [p["id"] for p in acme.list_all("/v2/absence-periods")] == [mine["id"]]
    assert [p["id"] for p in acme.list_all("/v2/absence-periods", id=theirs["id"])] == []
    for path in (f"/v2/persons/{hank['id']}", f"/v2/absence-types/{leave['id']}",
                 f"/v2/absence-periods/{theirs['id']}"):
        assert acme.get(path).status_code == 404, path
    assert acme.request("PATCH", f"/v2/absence-periods/{theirs['id']}",
                        json={"comment": "hijack"}).status_code == 404
    assert acme.request("DELETE", f"/v2/absence-periods/{theirs['id']}").status_code == 404
    # Booking another tenant's person or type is refused.
    assert acme.create_period(hank, vacation, "2026-07-01", "2026-07-02").status_code == 422
    assert acme.create_period(anna, leave, "2026-07-01", "2026-07-02").status_code == 422
    assert globex.get_ok(f"/v2/absence-periods/{theirs['id']}")["comment"] is None


def test_a_cursor_does_not_cross_tenants(personio):
    acme = personio.tenant("acme")
    globex = personio.tenant("globex")
    for i in range(3):
        acme.person(f"a{i}@acme.test")
    hank = globex.person("hank@globex.test")
    next_href = acme.get_ok("/v2/persons", limit=1)["_meta"]["links"]["next"]["href"]
    # The cursor holds no tenant: used by another tenant it pages that tenant's own data.
    page = globex.get_ok(next_href)
    assert [p["id"] for p in page["_data"]] in ([], [hank["id"]])
    assert all(p["email"].endswith("@globex.test") for p in page["_data"])


def test_client_ids_are_unique_across_tenants(personio):
    personio.tenant("acme", client_id="shared-id")
    resp = requests.post(personio.url + "/_sandbox/tenants", json={
        "tenant": "globex", "client_id": "shared-id", "client_secret": "x"}, timeout=5)
    assert resp.status_code == 409


def test_deleting_a_tenant_forgets_its_data_and_tokens(personio):
    acme = personio.tenant("acme")
    acme.person("anna@acme.test")
    assert acme.get("/v2/persons").status_code == 200
    personio.admin.delete("/tenants/acme")
    assert acme.get("/v2/persons").status_code == 401
    again = personio.tenant("acme")
    assert again.get_ok("/v2/persons")["_data"] == []
