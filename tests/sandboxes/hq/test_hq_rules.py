"""HQ's business rules: charge rates on reportings, billed reportings, absences (types, half days,
"nur ganztägig", MissedDays, the Personio lock B7) and the audit fields."""

from __future__ import annotations

import pytest

from .conftest import ACME, HQ


def reporting(hq: HQ, note: str) -> dict:
    return hq.sync.one("/v1/UserReportings", **{"$filter": f"Note eq '{note}'"})


def create(hq: HQ, project: str, email: str, task: str | None = None, **extra) -> dict:
    body = {"UserId": hq.user_id(email), "StartDate": "2025-02-10T08:00:00Z", "Duration": 3600, **extra}
    if task:
        body["TaskId"] = hq.task(task)["Id"]
    resp = hq.sync.post(f"/v1/Projects({hq.project(project)['Id']})/do.CreateReporting", body)
    assert resp.status_code == 201, resp.text
    return resp.json()


# -- charge rates ----------------------------------------------------------------------------------
def test_customer_rule_role_then_task_type_then_pair(hq: HQ) -> None:
    # Anna is Projektleitung: the customer rule's role entry wins for the external rate; its
    # internal rate is undefined there, so the task-type entry (Konzeption) supplies it.
    anna = reporting(hq, "Wireframes v1")
    assert (anna["ChargeRateValue"], anna["InternalChargeRateValue"]) == (180.0, 65.0)
    assert anna["CurrencyChargeRateValue"] == "EUR" and anna["Duration"] == 7200
    # Bob is Design on a Design task: the (role, task type) entry.
    assert (reporting(hq, "Moodboard")["ChargeRateValue"], reporting(hq, "Moodboard")["InternalChargeRateValue"]) == (170.0, 70.0)
    # Bob (Design) on a Konzeption task: no pair, no role entry -> the task-type entry.
    assert reporting(hq, "Review")["ChargeRateValue"] == 160.0
    # No task: role entry, else the rule's default.
    assert create(hq, "Website Relaunch", "bob@acme.example")["ChargeRateValue"] == 150.0


def test_member_rate_then_user_rule_then_zero(hq: HQ) -> None:
    manual = create(hq, "Intern Orga", "bob@acme.example")  # member with a manual rate, no rules
    assert (manual["ChargeRateValue"], manual["InternalChargeRateValue"]) == (99.5, 0.0)
    by_user = create(hq, "Intern Orga", "anna@acme.example")  # not a member, no customer: her rule
    assert (by_user["ChargeRateValue"], by_user["InternalChargeRateValue"]) == (90.0, 45.0)
    nothing = create(hq, "Ohne Regel", "bob@acme.example")  # customer without rule, user without rule
    assert (nothing["ChargeRateValue"], nothing["InternalChargeRateValue"]) == (0.0, 0.0)


def test_member_rule_beats_the_customer_rule(hq: HQ) -> None:
    rules = {r["name"]: r["Id"] for r in hq.admin.get(f"/tenants/{ACME}/rate-rules")["rate_rules"]}
    project = hq.project("Ohne Regel")
    anna = hq.user_id("anna@acme.example")
    role = hq.named("ProjectRoles", "Entwicklung")["Id"]
    hq.sync.post(f"/v1/Projects({project['Id']})/do.AddMember", {"UserId": anna, "ProjectRoleId": role, "ExternalChargeRateId": rules["Premium"]})
    assert create(hq, "Ohne Regel", "anna@acme.example")["ChargeRateValue"] == 150.0
    # Re-assigning the customer's rule changes new reportings only.
    company = hq.named("Companies", "Ohne Regel AG")["Id"]
    hq.admin.put(f"/tenants/{ACME}/companies/{company}/rate-rule", {"rule": "Intern"})
    assert create(hq, "Ohne Regel", "bob@acme.example")["ChargeRateValue"] == 90.0
    assert hq.sync.values("/v1/UserReportings", **{"$filter": "ChargeRateValue eq 0"}) == []


def test_rates_are_computed_on_creation_only(hq: HQ) -> None:
    item = reporting(hq, "Moodboard")
    resp = hq.sync.put(f"/v1/Users({item['UserId']})/Reportings({item['Id']})",
                       {**item, "Duration": 5400, "ChargeRateValue": 1.0, "Note": "Moodboard v2"})
    assert resp.status_code == 200
    assert resp.json()["Duration"] == 5400 and resp.json()["ChargeRateValue"] == 170.0


# -- reportings ------------------------------------------------------------------------------------
def test_reporting_update_delete_and_audit_fields(hq: HQ) -> None:
    item = reporting(hq, "Moodboard")
    anna_id = hq.user_id("anna@acme.example")
    path = f"/v1/Users({item['UserId']})/Reportings({item['Id']})"
    assert hq.sync.get(path).json() == {**item, "@odata.context": hq.sync.get(path).json()["@odata.context"]}
    updated = hq.anna.put(path, {**item, "Note": "by Anna", "StartOn": "2025-02-04T10:00:00+01:00"}).json()
    assert updated["UpdatedBy"] == anna_id and updated["CreatedBy"] == item["CreatedBy"]
    assert updated["UpdatedOn"] > item["UpdatedOn"] and updated["CreatedOn"] == item["CreatedOn"]
    assert updated["StartOn"] == "2025-02-04T09:00:00Z"
    assert hq.sync.put(path, {**item, "UserId": anna_id}).status_code == 400
    assert hq.sync.put(f"/v1/Users({anna_id})/Reportings({item['Id']})", item).status_code == 404  # not Anna's
    assert hq.sync.delete(path).status_code == 204
    assert hq.sync.get(f"/v1/UserReportings({item['Id']})").status_code == 404


def test_reporting_lists_per_user_and_for_all(hq: HQ) -> None:
    bob = hq.user_id("bob@acme.example")
    assert len(hq.sync.values("/v1/UserReportings")) == 3
    mine = hq.sync.values(f"/v1/Users({bob})/Reportings", **{"$orderby": "StartOn desc"})
    assert [r["Note"] for r in mine] == ["Review", "Moodboard"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"Duration": 0}, "between 1 and 86400 seconds"),
        ({"Duration": "1h"}, "number of seconds"),
        ({"UserId": 1}, "no user"),
        ({"StartDate": None}, "'StartDate' is required"),
        ({"StartDate": "yesterday"}, "ISO 8601"),
        ({"TaskId": "globex"}, "must be an integer"),
        ({"Note": "x"}, "Unknown parameters ['Note']"),
    ],
)
def test_create_reporting_validation(hq: HQ, change: dict, fragment: str) -> None:
    body = {"UserId": hq.user_id("bob@acme.example"), "StartDate": "2025-02-10T08:00:00Z", "Duration": 60, **change}
    resp = hq.sync.post(f"/v1/Projects({hq.project('Ohne Regel')['Id']})/do.CreateReporting", body)
    assert resp.status_code == 400 and fragment in resp.json()["error"]["message"], resp.text


def test_reporting_on_a_task_of_another_project_or_a_closed_task(hq: HQ) -> None:
    wireframes = hq.task("Wireframes")["Id"]
    body = {"UserId": hq.user_id("bob@acme.example"), "StartDate": "2025-02-10T08:00:00Z", "Duration": 60, "TaskId": wireframes}
    assert hq.sync.post(f"/v1/Projects({hq.project('Ohne Regel')['Id']})/do.CreateReporting", body).status_code == 400
    hq.sync.post(f"/v1/ProjectTasks({wireframes})/do.Finish")
    relaunch = hq.project("Website Relaunch")["Id"]
    assert hq.sync.post(f"/v1/Projects({relaunch})/do.CreateReporting", body).status_code == 201
    hq.settings(block_reporting_on_done_tasks=True)
    resp = hq.sync.post(f"/v1/Projects({relaunch})/do.CreateReporting", body)
    assert resp.status_code == 400 and "closed" in resp.json()["error"]["message"]


def test_billed_reportings_cannot_change(hq: HQ) -> None:
    billed = reporting(hq, "Review")
    path = f"/v1/Users({billed['UserId']})/Reportings({billed['Id']})"
    for resp in (hq.sync.put(path, {**billed, "Duration": 60}), hq.sync.delete(path)):
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "ReportingBilled"
    hq.settings(billed_status=409)
    assert hq.sync.delete(path).status_code == 409
    assert hq.sync.get(path).json()["Duration"] == 1800

    # The billing is visible the way the spec allows: an invoice position of Type UserReporting.
    invoice = hq.sync.one("/v1/Invoices")
    assert invoice["Status"] == "Sent" and invoice["NetTotal"] == 80.0  # 0.5 h x 160
    positions = hq.sync.values(f"/v1/Invoices({invoice['Id']})/Positions", **{"$expand": "UserReportings($select=Id)"})
    assert positions[0]["Type"] == "UserReporting" and positions[0]["UserReportings"] == [{"Id": billed["Id"]}]
    nested = hq.sync.values("/v1/Invoices", **{"$expand": "Positions($expand=UserReportings($select=Id))"})
    assert nested[0]["Positions"][0]["UserReportings"] == [{"Id": billed["Id"]}]
    raw = hq.admin.get(f"/tenants/{ACME}/records/UserReportings/{billed['Id']}")
    assert raw["_billed_invoice_id"] == invoice["Id"]

    # The admin endpoint bills like an invoice would.
    other = reporting(hq, "Moodboard")
    hq.admin.post(f"/tenants/{ACME}/invoices", {"reporting_ids": [other["Id"]]})
    assert hq.sync.delete(f"/v1/Users({other['UserId']})/Reportings({other['Id']})").status_code == 409


# -- absences --------------------------------------------------------------------------------------
def absences_path(hq: HQ, email: str = "anna@acme.example") -> str:
    return f"/v1/Users({hq.user_id(email)})/Absences"


def post_absence(hq: HQ, type_: str, start: str, end: str, client=None, email: str = "anna@acme.example"):
    return (client or hq.sync).post(absences_path(hq, email), {"UserId": hq.user_id(email), "Type": type_, "Start": start,
                                                               "End": end, "Note": "t"})


def test_day_based_absences_full_and_half_days(hq: HQ) -> None:
    seeded = hq.sync.one(absences_path(hq))
    assert (seeded["Start"], seeded["End"], seeded["MissedDays"]) == ("2025-03-03T00:00:00", "2025-03-08T00:00:00", 5.0)
    half = hq.sync.one(absences_path(hq, "bob@acme.example"))
    assert half["MissedDays"] == 0.5 and half["End"] == "2025-03-10T12:00:00"

    cases = [
        ("2025-04-07", "2025-04-08", 1.0),                           # a date-only value is 00:00
        ("2025-04-14T00:00:00", "2025-04-16T12:00:00", 2.5),         # last day ends at noon
        ("2025-04-22T12:00:00", "2025-04-24T00:00:00", 1.5),         # first day starts at noon
        ("2025-04-25T00:00:00+02:00", "2025-04-28T00:00:00+02:00", 1.0),  # Fri..Mon excl.: weekend free; wall clock counts
    ]
    for start, end, missed in cases:
        resp = post_absence(hq, "Vacation", start, end)
        assert resp.status_code == 201, resp.text
        assert resp.json()["MissedDays"] == missed, (start, end)
    overlap = post_absence(hq, "SickLeave", "2025-03-06", "2025-03-11")  # Thu..Mon, Thu+Fri already on vacation
    assert overlap.json()["MissedDays"] == 1.0


def test_half_day_previous_day_switch(hq: HQ) -> None:
    hq.settings(half_day_end="previous_day")
    resp = post_absence(hq, "Vacation", "2025-05-05T00:00:00", "2025-05-06T12:00:00")
    assert resp.status_code == 201 and resp.json()["MissedDays"] == 0.5
    assert resp.json()["End"] == "2025-05-06T12:00:00"


def test_full_day_only_types_reject_half_days(hq: HQ) -> None:
    for type_ in ("OvertimeCompensation", "MaternityLeave", "ParentalLeave"):
        resp = post_absence(hq, type_, "2025-06-02T00:00:00", "2025-06-02T12:00:00")
        assert resp.status_code == 400 and "nur ganztägig" in resp.json()["error"]["message"]
        assert post_absence(hq, type_, "2025-06-02", "2025-06-03").status_code == 201
    hq.settings(full_day_only_half_days="round_up")
    rounded = post_absence(hq, "OvertimeCompensation", "2025-06-09T00:00:00", "2025-06-09T12:00:00").json()
    assert rounded["End"] == "2025-06-10T00:00:00" and rounded["MissedDays"] == 1.0


def test_hour_based_types_take_utc_datetimes(hq: HQ) -> None:
    resp = post_absence(hq, "PrivateAbsence", "2025-06-02T08:30:00+02:00", "2025-06-02T10:00:00Z")
    assert resp.status_code == 201
    assert (resp.json()["Start"], resp.json()["End"], resp.json()["MissedDays"]) == ("2025-06-02T06:30:00Z", "2025-06-02T10:00:00Z", 0.0)
    assert post_absence(hq, "CompanyAbsence", "2025-06-02T10:00:00Z", "2025-06-02T09:00:00Z").status_code == 400


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"Type": "Vacation", "Start": "2025-06-02T09:00:00", "End": "2025-06-03"}, "must be at 00:00"),
        ({"Type": "Vacation", "Start": "2025-06-03", "End": "2025-06-03"}, "'End' must be after 'Start'"),
        ({"Type": "Holiday", "Start": "2025-06-02", "End": "2025-06-03"}, "not a valid absence Type"),
        ({"Start": "2025-06-02", "End": "2025-06-03"}, "'Type' is required"),
        ({"Type": "Vacation", "End": "2025-06-03"}, "'Start' is required"),
        ({"Type": "Vacation", "Start": "soon", "End": "2025-06-03"}, "not an ISO 8601"),
        ({"Type": "Vacation", "Start": "2025-06-02", "End": "2025-06-03", "UserId": 1}, "does not match"),
        ({"Type": "Vacation", "Start": "2025-06-02", "End": "2025-06-03", "UserId": None}, "'UserId' is required"),
    ],
)
def test_absence_validation(hq: HQ, body: dict, fragment: str) -> None:
    body = {"UserId": hq.user_id("anna@acme.example"), **body}  # required by HQ's spec; None: left out
    body = {k: v for k, v in body.items() if v is not None}
    resp = hq.sync.post(absences_path(hq), body)
    assert resp.status_code == 400 and fragment in resp.json()["error"]["message"], resp.text


def test_absences_have_no_put_and_delete_answers_200(hq: HQ) -> None:
    created = post_absence(hq, "RemoteWork", "2025-07-01", "2025-07-02").json()
    path = f"{absences_path(hq)}({created['Id']})"
    assert hq.sync.get(path).json()["Type"] == "RemoteWork"
    no_put = hq.sync.put(path, created)
    assert no_put.status_code == 405 and no_put.headers["Allow"] == "DELETE, GET, HEAD"  # RFC 9110 wants Allow
    resp = hq.sync.delete(path)
    assert resp.status_code == 200 and resp.content == b""
    assert hq.sync.get(path).status_code == 404
    assert [a["Type"] for a in hq.sync.values(absences_path(hq), **{"$filter": "Type eq 'Vacation'"})] == ["Vacation"]


def test_personio_sync_locks_absences_for_user_tokens(hq: HQ) -> None:
    hq.settings(personio_sync=True)
    resp = post_absence(hq, "Vacation", "2025-08-04", "2025-08-05", client=hq.anna)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "PersonioSyncActive"
    existing = hq.sync.one(absences_path(hq))
    assert hq.anna.delete(f"{absences_path(hq)}({existing['Id']})").status_code == 400
    assert hq.anna.get(absences_path(hq)).status_code == 200  # reading stays allowed
    created = post_absence(hq, "Vacation", "2025-08-04", "2025-08-05")  # the sync token may write
    assert created.status_code == 201
    assert hq.sync.delete(f"{absences_path(hq)}({created.json()['Id']})").status_code == 200
    hq.settings(personio_lock_status=403)
    assert post_absence(hq, "Vacation", "2025-08-04", "2025-08-05", client=hq.anna).status_code == 403
    hq.settings(personio_sync=False)
    assert post_absence(hq, "Vacation", "2025-08-04", "2025-08-05", client=hq.anna).status_code == 201


def test_registration_switches_are_validated(hq: HQ) -> None:
    resp = hq.admin.session.put(f"{hq.url}/_sandbox/tenants/{ACME}/settings", json={"half_day_end": "sideways"})
    assert resp.status_code == 400 and "must be one of" in resp.json()["error"]["message"]
    resp = hq.admin.session.put(f"{hq.url}/_sandbox/tenants/{ACME}/settings", json={"no_such_switch": 1})
    assert resp.status_code == 400
    tenant = hq.admin.get(f"/tenants/{ACME}")
    assert tenant["personio_sync"] is False and tenant["settings"]["max_top"] == 1000
