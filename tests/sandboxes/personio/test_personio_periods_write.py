"""POST/PATCH/DELETE /v2/absence-periods: approval, validation, overlaps, updated_at, deletion."""

from __future__ import annotations

import pytest


def _body(acme, start="2026-09-01T00:00:00", end="2026-09-02T00:00:00", **overrides):
    body = {
        "person": {"id": acme.anna["id"]},
        "absence_type": {"id": acme.vacation["id"]},
        "starts_from": {"date_time": start, "type": "FIRST_HALF"},
        "ends_at": None if end is None else {"date_time": end, "type": "SECOND_HALF"},
        "comment": None,
    }
    body.update(overrides)
    return body


def _post(acme, body, skip_approval=None):
    params = {} if skip_approval is None else {"skip_approval": skip_approval}
    return acme.request("POST", "/v2/absence-periods", params=params, json=body)


def _detail(resp):
    return resp.json()["errors"][0]["detail"]


def test_create_answers_201_with_the_created_object(acme):
    resp = _post(acme, _body(acme), skip_approval="true")
    assert resp.status_code == 201
    body = resp.json()
    href = body["_meta"]["links"]["self"]["href"]
    assert href == f"{acme.sandbox.url}/v2/absence-periods/{body['id']}"
    assert resp.headers["Location"] == href
    assert acme.get_ok(href)["id"] == body["id"]


def test_approval_state_on_creation(personio, acme):
    pending = _post(acme, _body(acme)).json()["id"]  # skip_approval defaults to false
    assert acme.get_ok(f"/v2/absence-periods/{pending}")["approval"]["status"] == "PENDING"
    approved = _post(acme, _body(acme, "2026-09-03T00:00:00", "2026-09-04T00:00:00"),
                     skip_approval="true").json()["id"]
    assert acme.get_ok(f"/v2/absence-periods/{approved}")["approval"]["status"] == "APPROVED"
    no_approval = acme.absence_type("Krank", "DAY", "SICK_LEAVE", approval_required=False)
    sick = _post(acme, _body(acme, "2026-09-07T00:00:00", None,
                             absence_type={"id": no_approval["id"]})).json()["id"]
    assert acme.get_ok(f"/v2/absence-periods/{sick}")["approval"]["status"] == "APPROVED"
    assert _post(acme, _body(acme), skip_approval="maybe").status_code == 400


@pytest.mark.parametrize("change, status, fragment", [
    ({"person": None}, 400, "person is required"),
    ({"starts_from": {"type": "FIRST_HALF"}}, 400, "starts_from.date_time"),
    ({"person": {"id": "424242"}}, 422, "person with id 424242"),
    ({"absence_type": {"id": "nope"}}, 422, "absence type with id nope"),
    ({"starts_from": {"date_time": "2026-09-01T09:00:00", "type": None}}, 422, "midnight"),
    ({"starts_from": {"date_time": "2026-09-01T00:00:00Z", "type": None}}, 422, "offset"),
    ({"starts_from": {"date_time": "2026-09-01", "type": None}}, 422, "date-time"),
    ({"ends_at": {"date_time": "2026-09-01T00:00:00", "type": None}}, 422, "exclusive"),
    ({"starts_from": {"date_time": "2026-09-01T00:00:00", "type": "MORNING"}}, 422, "FIRST_HALF"),
    ({"starts_from": {"date_time": "2026-09-01T00:00:00", "type": "SECOND_HALF"},
      "ends_at": {"date_time": "2026-09-02T00:00:00", "type": "FIRST_HALF"}}, 422, "single-day"),
    ({"approval": {"status": "APPROVED"}}, 400, "approval"),
    ({"end_at": None}, 400, "Unknown fields"),
    ({"comment": 5}, 400, "comment"),
    ({"timezone_id": "Mars/Olympus"}, 422, "timezone_id"),
])
def test_create_validation_errors(acme, change, status, fragment):
    resp = _post(acme, _body(acme, **change), skip_approval="true")
    assert resp.status_code == status, resp.text
    assert fragment in _detail(resp)


def test_hour_unit_rules(acme):
    hour = {"absence_type": {"id": acme.doctor["id"]}}
    ok = _post(acme, _body(acme, "2026-09-01T09:00:00", "2026-09-01T10:30:00", **hour,
                           starts_from={"date_time": "2026-09-01T09:00:00", "type": None},
                           ends_at={"date_time": "2026-09-01T10:30:00", "type": None}))
    assert ok.status_code == 201
    no_end = _post(acme, _body(acme, **hour, starts_from={"date_time": "2026-09-02T09:00:00"},
                               ends_at=None))
    assert (no_end.status_code, "ends_at is required" in _detail(no_end)) == (422, True)
    halves = _post(acme, _body(acme, "2026-09-03T09:00:00", "2026-09-03T10:00:00", **hour))
    assert halves.status_code == 422 and "Half-day" in _detail(halves)
    backwards = _post(acme, _body(acme, **hour,
                                  starts_from={"date_time": "2026-09-04T10:00:00", "type": None},
                                  ends_at={"date_time": "2026-09-04T09:00:00", "type": None}))
    assert backwards.status_code == 422


def test_invalid_json_body(acme):
    resp = acme.request("POST", "/v2/absence-periods", data="{not json",
                        headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert acme.request("POST", "/v2/absence-periods", json=[1]).status_code == 400


def test_overlapping_periods_of_a_person_are_refused(personio, acme):
    first = acme.period(acme.anna, acme.vacation, "2026-10-05", "2026-10-10")
    clash = acme.create_period(acme.anna, acme.vacation, "2026-10-09", "2026-10-12")
    assert clash.status_code == 409
    assert first["id"] in _detail(clash)
    # Another person, or the day after the exclusive end, is fine.
    assert acme.create_period(acme.ben, acme.vacation, "2026-10-05", "2026-10-10").status_code == 201
    assert acme.create_period(acme.anna, acme.vacation, "2026-10-10", "2026-10-11").status_code == 201
    # An hour absence inside a vacation clashes too.
    inside = acme.create_period(acme.anna, acme.doctor, "2026-10-06T09:00:00",
                                "2026-10-06T10:00:00", start_type=None, end_type=None)
    assert inside.status_code == 409
    # Morning and afternoon halves of one day do not overlap.
    morning = acme.create_period(acme.anna, acme.vacation, "2026-10-20", "2026-10-21",
                                 start_type="FIRST_HALF", end_type="FIRST_HALF")
    afternoon = acme.create_period(acme.anna, acme.vacation, "2026-10-20", "2026-10-21",
                                   start_type="SECOND_HALF", end_type="SECOND_HALF")
    assert (morning.status_code, afternoon.status_code) == (201, 201)
    # An open-ended period blocks everything after its start.
    acme.period(acme.ben, acme.vacation, "2026-11-01", None)
    assert acme.create_period(acme.ben, acme.vacation, "2027-05-01", "2027-05-02").status_code == 409
    personio.settings(reject_overlapping_periods=False)
    assert acme.create_period(acme.anna, acme.vacation, "2026-10-09", "2026-10-12").status_code == 201


def test_rejected_and_cancelled_periods_do_not_block(acme):
    first = acme.period(acme.anna, acme.vacation, "2026-10-05", "2026-10-10")
    acme.request("PATCH", f"/v2/absence-periods/{first['id']}", json={"approval": {"status": "REJECTED"}})
    second = acme.period(acme.anna, acme.vacation, "2026-10-05", "2026-10-10")
    # Re-approving the rejected one would now overlap the second.
    back = acme.request("PATCH", f"/v2/absence-periods/{first['id']}",
                        json={"approval": {"status": "APPROVED"}})
    assert back.status_code == 409
    cancel = acme.request("PATCH", f"/v2/absence-periods/{second['id']}",
                          json={"approval": {"status": "CANCELLED"}})
    assert cancel.status_code == 200


def test_patch_changes_status_and_always_bumps_updated_at(acme):
    period = acme.period(acme.anna, acme.vacation, "2026-11-02", "2026-11-04", skip_approval=False)
    assert period["approval"]["status"] == "PENDING"
    last = period["updated_at"]
    for status in ("APPROVED", "REJECTED", "CANCELLED", "DELETION_PENDING", "SUBSTITUTE_REQUESTED",
                   "PENDING"):
        resp = acme.request("PATCH", f"/v2/absence-periods/{period['id']}",
                            json={"approval": {"status": status}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["approval"] == {"status": status}
        assert resp.json()["updated_at"] > last
        last = resp.json()["updated_at"]
    same = acme.request("PATCH", f"/v2/absence-periods/{period['id']}", json={})
    assert same.json()["updated_at"] > last  # every write is a new version
    bad = acme.request("PATCH", f"/v2/absence-periods/{period['id']}",
                       json={"approval": {"status": "approved"}})
    assert bad.status_code == 422
    assert acme.get_ok(f"/v2/absence-periods/{period['id']}")["created_at"] == period["created_at"]


def test_patch_times_type_comment_and_open_end(acme):
    period = acme.period(acme.anna, acme.vacation, "2026-11-02", "2026-11-04")
    moved = acme.request("PATCH", f"/v2/absence-periods/{period['id']}", json={
        "starts_from": {"date_time": "2026-11-03T00:00:00"},  # merge: type stays FIRST_HALF
        "ends_at": {"type": "FIRST_HALF"},
        "comment": "shorter",
    })
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["starts_from"] == {"date_time": "2026-11-03T00:00:00", "type": "FIRST_HALF"}
    assert body["ends_at"] == {"date_time": "2026-11-04T00:00:00", "type": "FIRST_HALF"}
    assert body["comment"] == "shorter"
    opened = acme.request("PATCH", f"/v2/absence-periods/{period['id']}", json={"ends_at": None})
    assert opened.json()["ends_at"] is None
    retyped = acme.request("PATCH", f"/v2/absence-periods/{period['id']}", json={
        "absence_type": {"id": acme.doctor["id"]}})
    assert retyped.status_code == 422  # an hour type needs times and an end
    person = acme.request("PATCH", f"/v2/absence-periods/{period['id']}",
                          json={"person": {"id": acme.ben["id"]}})
    assert person.status_code == 422
    assert acme.request("PATCH", "/v2/absence-periods/unknown", json={}).status_code == 404


def test_deleted_periods_vanish_and_answer_404(acme):
    keep = acme.period(acme.anna, acme.vacation, "2026-12-01", "2026-12-02")
    gone = acme.period(acme.anna, acme.vacation, "2026-12-07", "2026-12-08")
    resp = acme.request("DELETE", f"/v2/absence-periods/{gone['id']}")
    assert resp.status_code == 204 and resp.content == b""
    assert acme.get(f"/v2/absence-periods/{gone['id']}").status_code == 404
    assert [p["id"] for p in acme.list_all("/v2/absence-periods")] == [keep["id"]]
    assert acme.list_all("/v2/absence-periods", id=gone["id"]) == []
    again = acme.request("DELETE", f"/v2/absence-periods/{gone['id']}")
    assert again.status_code == 404
    assert again.json()["errors"][0]["type"].endswith("common.requested_resource_not_found")
    # The freed days can be booked again.
    assert acme.create_period(acme.anna, acme.vacation, "2026-12-07", "2026-12-08").status_code == 201


def test_bulk_touch_bumps_updated_at_without_changes(personio, acme):
    period = acme.period(acme.anna, acme.vacation, "2026-12-14", "2026-12-15")
    touched = personio.admin.post(f"/tenants/acme/persons/{acme.anna['id']}/touch-absence-periods", {})
    assert touched == {"touched": 1}
    after = acme.get_ok(f"/v2/absence-periods/{period['id']}")
    assert after["updated_at"] > period["updated_at"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == \
        {k: v for k, v in period.items() if k != "updated_at"}
