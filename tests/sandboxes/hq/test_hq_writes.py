"""Write endpoints: companies, projects (do.Create, do.AddMember, custom fields), tasks, users,
quotations with positions; status codes and HQ-shaped errors."""

from __future__ import annotations

import time

from .conftest import HQ


def test_companies_crud(hq: HQ) -> None:
    kunde = hq.named("CompanyTypes", "Kunde")["Id"]
    body = {"Name": "Neu GmbH", "DebitorNumber": 10002, "DefaultAddress": {"Street": "Weg", "City": "Kiel", "Country": "DE"},
            "CompanyTypes": [{"Id": kunde, "Number": "K-2"}]}
    resp = hq.sync.post("/v1/Companies", body)
    assert resp.status_code == 201
    company = resp.json()
    assert company["Name"] == "Neu GmbH" and isinstance(company["Id"], int)
    expanded = hq.sync.get(f"/v1/Companies({company['Id']})", **{"$expand": "DefaultAddress,CompanyTypes"}).json()
    assert expanded["DefaultAddress"]["City"] == "Kiel"
    assert expanded["CompanyTypes"] == [{**expanded["CompanyTypes"][0], "Id": kunde, "Name": "Kunde", "Number": "K-2"}]

    time.sleep(0.002)
    put = hq.sync.put(f"/v1/Companies({company['Id']})", {**company, "Name": "Neu AG", "DebitorNumber": None})
    assert put.status_code == 200
    updated = put.json()
    assert updated["Name"] == "Neu AG" and updated["DebitorNumber"] is None
    assert updated["UpdatedOn"] > company["UpdatedOn"] and updated["CreatedOn"] == company["CreatedOn"]

    assert hq.sync.delete(f"/v1/Companies({company['Id']})").status_code == 204
    assert hq.sync.get(f"/v1/Companies({company['Id']})").status_code == 404
    # A company with projects cannot be deleted.
    used = hq.named("Companies", "Kunde GmbH")["Id"]
    assert hq.sync.delete(f"/v1/Companies({used})").status_code == 400


def test_put_merge_switch_keeps_omitted_fields(hq: HQ) -> None:
    company = hq.named("Companies", "Kunde GmbH")
    assert company["DebitorNumber"] == 10001
    hq.settings(put_semantics="merge")
    merged = hq.sync.put(f"/v1/Companies({company['Id']})", {"Name": "Kunde GmbH & Co"}).json()
    assert merged["DebitorNumber"] == 10001
    hq.settings(put_semantics="replace")
    replaced = hq.sync.put(f"/v1/Companies({company['Id']})", {"Name": "Kunde GmbH"}).json()
    assert replaced["DebitorNumber"] is None


def test_validation_errors_are_400_with_a_body(hq: HQ) -> None:
    for resp, fragment in (
        (hq.sync.post("/v1/Companies", {}), "'Name' is required"),
        (hq.sync.post("/v1/Companies", {"Name": "X", "Nonsense": 1}), "'Nonsense' does not exist on type 'HQ.Company'"),
        (hq.sync.post("/v1/Companies", {"Name": "X", "DebitorNumber": "ten"}), "'DebitorNumber' must be an integer"),
        (hq.sync.request("POST", "/v1/Companies", data="{not json", headers={"Content-Type": "application/json"}), "not valid JSON"),
        (hq.sync.request("POST", "/v1/Companies"), "body is missing"),
    ):
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "BadRequest"
        assert fragment in resp.json()["error"]["message"]


def test_unknown_ids_and_routes_are_404_and_unsupported_methods_405(hq: HQ) -> None:
    for path in ("/v1/Projects(999999)", "/v1/Projects(abc)", "/v1/Users(0)/Absences", "/v1/Nope"):
        resp = hq.sync.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "NotFound"
    pid = hq.project("Website Relaunch")["Id"]
    resp = hq.sync.put(f"/v1/Projects({pid})", {"Name": "x"})  # v1 has no PUT on projects
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "MethodNotAllowed"


def test_project_create_follows_the_template_rules(hq: HQ) -> None:
    template = hq.named("ProjectTemplates", "Kundenprojekt")
    company = hq.named("Companies", "Kunde GmbH")["Id"]
    resp = hq.sync.post("/v1/Projects/do.Create", {"ProjectTemplateId": template["Id"], "Name": "Neu",
                                                   "CompanyId": company, "StartDate": "2025-04-01T00:00:00", "EndDate": "2025-06-30"})
    assert resp.status_code == 201
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1  # the Swagger file's 201 is an array of Project
    project = body[0]
    assert project["Status"] == "Laufend" and project["ProjectStatusId"] == hq.named("ProjectStatuses", "Laufend")["Id"]
    assert project["StartDate"] == project["PlannedStartDate"] == "2025-04-01T00:00:00"
    assert project["Number"] and project["Number"] != "P-100"

    hq.settings(project_create_answer="object")
    single = hq.sync.post("/v1/Projects/do.Create", {"ProjectTemplateId": template["Id"], "Name": "Neu 2", "CompanyId": company, "Number": "P-200"}).json()
    assert single["Number"] == "P-200"

    errors = [
        ({"ProjectTemplateId": template["Id"], "Name": "Ohne Firma"}, "External projects require 'CompanyId'"),
        ({"ProjectTemplateId": hq.named("ProjectTemplates", "Intern")["Id"], "Name": "Intern ohne"}, "require 'ResponsibleUserId'"),
        ({"ProjectTemplateId": template["Id"], "Name": "Doppelt", "CompanyId": company, "Number": "P-100"}, "already in use"),
        ({"ProjectTemplateId": 1, "Name": "X"}, "no project template"),
        ({"Name": "X"}, "'ProjectTemplateId' is required"),
    ]
    for body, fragment in errors:
        resp = hq.sync.post("/v1/Projects/do.Create", body)
        assert resp.status_code == 400 and fragment in resp.json()["error"]["message"], (body, resp.text)


def test_number_schema_ignores_the_supplied_number(hq: HQ) -> None:
    template = hq.named("ProjectTemplates", "Intern")["Id"]
    anna = hq.user_id("anna@acme.example")
    hq.settings(project_create_answer="object")
    created = hq.sync.post("/v1/Projects/do.Create", {"ProjectTemplateId": template, "Name": "I2", "ResponsibleUserId": anna, "Number": "X-1"}).json()
    assert created["Number"] == "INT-002"  # "Intern Orga" got INT-001


def test_change_status_and_add_member(hq: HQ) -> None:
    project = hq.project("Ohne Regel")
    closed = hq.named("ProjectStatuses", "Abgeschlossen")["Id"]
    resp = hq.sync.post(f"/v1/Projects({project['Id']})/do.ChangeStatus", {"ProjectStatusId": closed})
    assert resp.status_code == 201 and resp.json()["Status"] == "Abgeschlossen"

    anna = hq.user_id("anna@acme.example")
    role = hq.named("ProjectRoles", "Projektleitung")["Id"]
    resp = hq.sync.post(f"/v1/Projects({project['Id']})/do.AddMember",
                        {"UserId": anna, "ProjectRoleId": role, "ExternalChargeRateValue": 111})
    assert resp.status_code == 201
    member = resp.json()
    assert member["ProjectId"] == project["Id"] and member["ExternalChargeRateValue"] == 111.0
    assert member["ExternalChargeRateCurrency"] == "EUR"
    again = hq.sync.post(f"/v1/Projects({project['Id']})/do.AddMember", {"UserId": anna, "ProjectRoleId": role})
    assert again.status_code == 400 and "already a member" in again.json()["error"]["message"]
    members = hq.sync.values(f"/v1/Projects({project['Id']})/Members")
    assert {m["UserId"] for m in members} == {anna, hq.user_id("bob@acme.example")}
    assert hq.sync.delete(f"/v1/Projects({project['Id']})/Members({member['Id']})").status_code == 204
    assert len(hq.sync.values(f"/v1/Projects({project['Id']})/Members")) == 1


def test_custom_field_values(hq: HQ) -> None:
    project = hq.project("Intern Orga")
    link = hq.sync.one("/v1/CustomFieldDefinitions", **{"$filter": "Name eq 'awork Link'"})
    flag = hq.sync.one("/v1/CustomFieldDefinitions", **{"$filter": "Name eq 'awork-Projekt anlegen'"})
    assert (link["TypeText"], link["Category"]) == ("Link", "Project")
    assert (flag["TypeText"], flag["Category"]) == ("Boolean", "Project")

    path = f"/v1/Projects({project['Id']})/CustomFields({link['Id']})"
    assert hq.sync.get(path).json()["Value"] is None
    resp = hq.sync.put(path, {"Value": "https://acme.awork.com/projects/xyz"})
    assert resp.status_code == 200 and resp.json()["Value"] == "https://acme.awork.com/projects/xyz"
    assert resp.json()["Id"] == link["Id"] and resp.json()["Name"] == "awork Link"
    fields = hq.sync.values(f"/v1/Projects({project['Id']})/CustomFields")
    assert {f["Name"]: f["Value"] for f in fields}["awork Link"] == "https://acme.awork.com/projects/xyz"
    flag_path = f"/v1/Projects({project['Id']})/CustomFields({flag['Id']})"
    assert hq.sync.put(flag_path, {"Value": "True"}).json()["Value"] == "true"
    bad = hq.sync.put(flag_path, {"Value": "ja"})
    assert bad.status_code == 400 and "Boolean" in bad.json()["error"]["message"]
    assert hq.sync.put(path, {"Value": None}).json()["Value"] is None
    assert hq.sync.put(f"/v1/Projects({project['Id']})/CustomFields(1)", {"Value": "x"}).status_code == 404
    # Writing a value does not bump the project's UpdatedOn (unless switched on).
    assert hq.project("Intern Orga")["UpdatedOn"] == project["UpdatedOn"]
    hq.settings(custom_field_write_touches_parent=True)
    hq.sync.put(path, {"Value": "https://acme.awork.com/projects/2"})
    assert hq.project("Intern Orga")["UpdatedOn"] > project["UpdatedOn"]


def test_project_tasks_create_update_finish_delete(hq: HQ) -> None:
    pid = hq.project("Ohne Regel")["Id"]
    design = hq.named("TaskTypes", "Design")
    resp = hq.sync.post("/v1/ProjectTasks", {"Name": "Phase A", "ProjectId": pid, "PlannedEffort": 12.5, "SyncId": "awork-list-9"})
    assert resp.status_code == 201
    phase = resp.json()
    assert phase["ParentId"] is None and phase["PlannedEffort"] == 12.5
    assert phase["TaskTypeId"] == hq.named("TaskTypes", "Standard")["Id"]  # the default type
    task = hq.sync.post("/v1/ProjectTasks", {"Name": "Task A", "ProjectId": pid, "ParentId": phase["Id"],
                                             "TaskTypeId": design["Id"], "SyncId": "awork-task-9"}).json()
    statuses = hq.sync.get(f"/v1/TaskTypes({design['Id']})", **{"$expand": "TaskTypeStatus"}).json()["TaskTypeStatus"]
    assert task["TaskTypeStatusId"] == statuses[0]["Id"] and task["Order"] == phase["Order"] + 1

    found = hq.sync.one("/v1/ProjectTasks", **{"$filter": f"ProjectId eq {pid} and SyncId eq 'awork-task-9'"})
    assert found["Id"] == task["Id"]

    put = hq.sync.put(f"/v1/ProjectTasks({task['Id']})", {**task, "Name": "Task A2", "PlannedEffort": 3})
    assert put.status_code == 200 and put.json()["Name"] == "Task A2" and put.json()["PlannedEffort"] == 3.0
    missing_project = {k: v for k, v in task.items() if k != "ProjectId"}
    assert hq.sync.put(f"/v1/ProjectTasks({task['Id']})", missing_project).status_code == 400

    done = hq.sync.post(f"/v1/ProjectTasks({task['Id']})/do.Finish").json()
    assert done["IsDone"] is True and done["TaskTypeStatusId"] == statuses[2]["Id"]
    reopened = hq.sync.post(f"/v1/ProjectTasks({task['Id']})/do.Open").json()
    assert reopened["IsDone"] is False
    in_progress = hq.sync.post(f"/v1/ProjectTasks({task['Id']})/do.SetStatus", {"Status": statuses[1]["Id"]}).json()
    assert in_progress["TaskTypeStatusId"] == statuses[1]["Id"] and in_progress["IsDone"] is False

    # Only two levels (phases and tasks) by default; a deeper task is refused.
    deep = hq.sync.post("/v1/ProjectTasks", {"Name": "Sub", "ProjectId": pid, "ParentId": task["Id"]})
    assert deep.status_code == 400 and "at most 2 levels" in deep.json()["error"]["message"]
    hq.settings(max_task_depth=3)
    assert hq.sync.post("/v1/ProjectTasks", {"Name": "Sub", "ProjectId": pid, "ParentId": task["Id"]}).status_code == 201

    assert hq.sync.delete(f"/v1/ProjectTasks({phase['Id']})").status_code == 400  # has sub-tasks
    wireframes = hq.task("Wireframes")
    assert hq.sync.delete(f"/v1/ProjectTasks({wireframes['Id']})").status_code == 400  # has reportings
    other = hq.sync.post("/v1/ProjectTasks", {"Name": "Weg damit", "ProjectId": pid}).json()
    assert hq.sync.delete(f"/v1/ProjectTasks({other['Id']})").status_code == 204
    assert hq.sync.get(f"/v1/ProjectTasks({other['Id']})").status_code == 404

    for body, fragment in (
        ({"Name": "X"}, "'ProjectId' is required"),
        ({"Name": "X", "ProjectId": 1}, "no project"),
        ({"Name": "X", "ProjectId": pid, "ParentId": wireframes["Id"]}, "does not exist in project"),
        ({"Name": "X", "ProjectId": pid, "TaskTypeId": 1}, "no task type"),
        ({"Name": "X", "ProjectId": pid, "PlannedEffort": -1}, "must not be negative"),
    ):
        resp = hq.sync.post("/v1/ProjectTasks", body)
        assert resp.status_code == 400 and fragment in resp.json()["error"]["message"], (body, resp.text)


def test_put_user(hq: HQ) -> None:
    anna = hq.sync.get(f"/v1/Users({hq.user_id('anna@acme.example')})").json()
    resp = hq.sync.put(f"/v1/Users({anna['Id']})", {**anna, "Department": "Design", "EntryDate": "2020-01-01"})
    assert resp.status_code == 200
    assert resp.json()["Department"] == "Design" and resp.json()["EntryDate"] == "2020-01-01T00:00:00"
    clash = hq.sync.put(f"/v1/Users({anna['Id']})", {**anna, "EMailWork": "bob@acme.example"})
    assert clash.status_code == 400


def test_quotations_with_positions_and_group_sums(hq: HQ) -> None:
    quotation = hq.sync.one("/v1/Quotations", **{"$filter": "SyncId eq 'offer-1'"})
    assert quotation["Status"] == "Sent" and quotation["Number"].startswith("AN-")
    assert quotation["NetTotal"] == 16 * 160 + 10 * 170  # the optional workshop does not count
    assert quotation["GrossTotal"] == round(quotation["NetTotal"] * 1.19, 2)
    positions = hq.sync.values(f"/v1/Quotations({quotation['Id']})/Positions", **{"$orderby": "Order"})
    assert [(p["Type"], p["TotalPrice"]) for p in positions] == [
        ("GroupHeader", 2560.0), ("Freetext", 2560.0), ("Freetext", 600.0), ("Subtotal", 2560.0),
        ("PositionGroup", 1700.0), ("Freetext", 1700.0),
    ]
    expanded = hq.sync.get(f"/v1/Quotations({quotation['Id']})", **{"$expand": "Positions"}).json()
    assert len(expanded["Positions"]) == 6

    layouts = positions[-1]
    put = hq.sync.put(f"/v1/Quotations({quotation['Id']})/Positions({layouts['Id']})", {**layouts, "Amount": 20})
    assert put.status_code == 200 and put.json()["TotalPrice"] == 3400.0
    group = hq.sync.get(f"/v1/Quotations({quotation['Id']})/Positions({positions[4]['Id']})").json()
    assert group["TotalPrice"] == 3400.0
    added = hq.sync.post(f"/v1/Quotations({quotation['Id']})/Positions", {"Text": "Extra", "Amount": 1, "Price": 100})
    assert added.status_code == 201 and added.json()["Order"] == 7
    assert hq.sync.get(f"/v1/Quotations({quotation['Id']})").json()["NetTotal"] == 2560 + 3400 + 100
    assert hq.sync.delete(f"/v1/Quotations({quotation['Id']})/Positions({added.json()['Id']})").status_code == 204

    put_q = hq.sync.put(f"/v1/Quotations({quotation['Id']})", {**quotation, "Subject": "Neu", "DiscountType": "Percent", "Discount": 10})
    assert put_q.status_code == 200 and put_q.json()["NetTotal"] == round((2560 + 3400) * 0.9, 2)
    status = hq.sync.post(f"/v1/Quotations({quotation['Id']})/do.SetStatus", {"Status": "Accepted"})
    assert status.json()["Status"] == "Accepted"

    company = hq.named("Companies", "Kunde GmbH")["Id"]
    new = hq.sync.post("/v1/Quotations", {"CompanyId": company, "Subject": "Leer", "SyncId": "offer-2"})
    assert new.status_code == 201 and new.json()["NetTotal"] == 0 and new.json()["Status"] == "Draft"
    assert hq.sync.post("/v1/Quotations", {"Subject": "ohne Firma"}).status_code == 400
    assert hq.sync.post("/v1/Quotations", {"CompanyId": company, "Status": "Maybe"}).status_code == 400
    assert hq.sync.delete(f"/v1/Quotations({new.json()['Id']})").status_code == 204
    assert hq.sync.get(f"/v1/Quotations({new.json()['Id']})").status_code == 404
