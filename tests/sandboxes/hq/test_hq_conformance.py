"""Conformance: every answer of the sandbox (and every request body the tests and the seed send)
validates against the vendor's v1 Swagger file, and no answer carries a property the spec lacks."""

from __future__ import annotations

from typing import Any

from .conftest import ACME, HQ, Spec


def test_every_get_endpoint_matches_the_spec(hq: HQ, spec: Spec) -> None:
    sync = hq.sync
    hq.admin.post(f"/tenants/{ACME}/custom-field-definitions", {"Name": "Kürzel", "Type": "Text", "Category": "User"})
    user = hq.user_id("anna@acme.example")
    company = hq.named("Companies", "Kunde GmbH")["Id"]
    project = hq.project("Website Relaunch")["Id"]
    member = sync.values(f"/v1/Projects({project})/Members")[0]["Id"]
    task = hq.task("Wireframes")["Id"]
    reporting = sync.values(f"/v1/Users({user})/Reportings")[0]["Id"]
    absence = sync.values(f"/v1/Users({user})/Absences")[0]["Id"]
    quotation = sync.values("/v1/Quotations")[0]["Id"]
    position = sync.values(f"/v1/Quotations({quotation})/Positions")[0]["Id"]
    invoice = sync.values("/v1/Invoices")[0]["Id"]
    invoice_position = sync.values(f"/v1/Invoices({invoice})/Positions")[0]["Id"]
    link = hq.named("CustomFieldDefinitions", "awork Link")["Id"]
    user_field = hq.named("CustomFieldDefinitions", "Kürzel")["Id"]
    first = {s: sync.values(f"/v1/{s}")[0]["Id"] for s in
             ("CompanyTypes", "CustomFieldDefinitions", "ProjectRoles", "ProjectStatuses", "ProjectTemplates", "TaskTypes")}

    calls: list[tuple[str, str, dict[str, str]]] = [
        ("/v1/Users", "/v1/Users", {"$expand": "CustomFields,Absences,Reportings,ProjectMembers"}),
        ("/v1/Users({Id})", f"/v1/Users({user})", {}),
        ("/v1/Me", "/v1/Me", {}),
        ("/v1/Users({Id})/CustomFields", f"/v1/Users({user})/CustomFields", {}),
        ("/v1/Users({Id})/CustomFields({CustomFieldDefinitionId})", f"/v1/Users({user})/CustomFields({user_field})", {}),
        ("/v1/Users({Id})/ProjectMembers", f"/v1/Users({user})/ProjectMembers", {"$expand": "Project,ProjectRole,User"}),
        ("/v1/Users({Id})/Absences", f"/v1/Users({user})/Absences", {"$expand": "User"}),
        ("/v1/Users({Id})/Absences({AbsenceId})", f"/v1/Users({user})/Absences({absence})", {}),
        ("/v1/Users({Id})/Reportings", f"/v1/Users({user})/Reportings", {}),
        ("/v1/Users({Id})/Reportings({ReportingId})", f"/v1/Users({user})/Reportings({reporting})", {}),
        ("/v1/UserReportings", "/v1/UserReportings", {"$expand": "User,Project,Task", "$count": "true"}),
        ("/v1/UserReportings({Id})", f"/v1/UserReportings({reporting})", {}),
        ("/v1/Companies", "/v1/Companies", {"$expand": "DefaultAddress,Addresses,CustomFields,CompanyTypes"}),
        ("/v1/Companies({Id})", f"/v1/Companies({company})", {}),
        ("/v1/Companies({Id})/CustomFields", f"/v1/Companies({company})/CustomFields", {}),
        ("/v1/CompanyTypes", "/v1/CompanyTypes", {}),
        ("/v1/CompanyTypes({Id})", f"/v1/CompanyTypes({first['CompanyTypes']})", {}),
        ("/v1/CustomFieldDefinitions", "/v1/CustomFieldDefinitions", {"$expand": "Options"}),
        ("/v1/CustomFieldDefinitions({Id})", f"/v1/CustomFieldDefinitions({first['CustomFieldDefinitions']})", {}),
        ("/v1/ProjectRoles", "/v1/ProjectRoles", {}),
        ("/v1/ProjectRoles({Id})", f"/v1/ProjectRoles({first['ProjectRoles']})", {}),
        ("/v1/ProjectStatuses", "/v1/ProjectStatuses", {}),
        ("/v1/ProjectStatuses({Id})", f"/v1/ProjectStatuses({first['ProjectStatuses']})", {}),
        ("/v1/ProjectTemplates", "/v1/ProjectTemplates", {"$expand": "ProjectStatus"}),
        ("/v1/ProjectTemplates({Id})", f"/v1/ProjectTemplates({first['ProjectTemplates']})", {}),
        ("/v1/TaskTypes", "/v1/TaskTypes", {"$expand": "TaskTypeStatus"}),
        ("/v1/TaskTypes({Id})", f"/v1/TaskTypes({first['TaskTypes']})", {}),
        ("/v1/Projects", "/v1/Projects", {"$expand": "ProjectTemplate,ProjectStatus,Company,ResponsibleUser,CustomFields,Members,Reportings"}),
        ("/v1/Projects({Id})", f"/v1/Projects({project})", {"$expand": "CustomFields"}),
        ("/v1/Projects({Id})/CustomFields", f"/v1/Projects({project})/CustomFields", {}),
        ("/v1/Projects({Id})/CustomFields({CustomFieldDefinitionId})", f"/v1/Projects({project})/CustomFields({link})", {}),
        ("/v1/Projects({Id})/Members", f"/v1/Projects({project})/Members", {}),
        ("/v1/Projects({Id})/Members({MemberId})", f"/v1/Projects({project})/Members({member})", {}),
        ("/v1/ProjectTasks", "/v1/ProjectTasks", {"$expand": "Project,TaskType,TaskTypeStatus,UserReportings"}),
        ("/v1/ProjectTasks({Id})", f"/v1/ProjectTasks({task})", {}),
        ("/v1/Quotations", "/v1/Quotations", {"$expand": "Positions,Company,Project"}),
        ("/v1/Quotations({Id})", f"/v1/Quotations({quotation})", {}),
        ("/v1/Quotations({Id})/Positions", f"/v1/Quotations({quotation})/Positions", {"$expand": "CustomFields,UserReportings"}),
        ("/v1/Quotations({Id})/Positions({PositionId})", f"/v1/Quotations({quotation})/Positions({position})", {}),
        ("/v1/Invoices", "/v1/Invoices", {"$expand": "Positions"}),
        ("/v1/Invoices({Id})", f"/v1/Invoices({invoice})", {}),
        ("/v1/Invoices({Id})/Positions", f"/v1/Invoices({invoice})/Positions", {"$expand": "UserReportings"}),
        ("/v1/Invoices({Id})/Positions({PositionId})", f"/v1/Invoices({invoice})/Positions({invoice_position})", {}),
    ]
    for template, path, params in calls:
        client = hq.anna if template == "/v1/Me" else sync
        resp = client.get(path, **params)
        assert resp.status_code == 200, (path, resp.text)
        spec.check_response("GET", template, 200, resp.json())
        if params:  # the plain answer too
            spec.check_response("GET", template, 200, client.get(path).json())


def call(spec: Spec, hq: HQ, method: str, template: str, path: str, body: Any, status: int, **kw: Any) -> Any:
    """Sends a spec-checked request and checks the answer against the spec."""
    if body is not None:
        spec.check_request(method, template, body)
    resp = hq.sync.request(method, path, json=body)
    assert resp.status_code == status, (method, path, resp.text)
    spec.response_schema(method, template, status)  # the status itself is the documented one
    if resp.content:
        spec.check_response(method, template, status, resp.json(), **kw)
        return resp.json()
    return None


def test_every_write_endpoint_matches_the_spec(hq: HQ, spec: Spec) -> None:
    company = call(spec, hq, "POST", "/v1/Companies", "/v1/Companies", {"Name": "Spec GmbH", "DebitorNumber": 7}, 201)
    cid = company["Id"]
    company = call(spec, hq, "PUT", "/v1/Companies({Id})", f"/v1/Companies({cid})", {**_plain(company), "TaxId": "DE1"}, 200)
    template = hq.named("ProjectTemplates", "Kundenprojekt")["Id"]
    projects = call(spec, hq, "POST", "/v1/Projects/do.Create", "/v1/Projects/do.Create",
                    {"ProjectTemplateId": template, "Name": "Spec", "CompanyId": cid, "StartDate": "2025-01-01T00:00:00Z"}, 201, envelope=False)
    pid = projects[0]["Id"]
    closed = hq.named("ProjectStatuses", "Abgeschlossen")["Id"]
    call(spec, hq, "POST", "/v1/Projects({Id})/do.ChangeStatus", f"/v1/Projects({pid})/do.ChangeStatus", {"ProjectStatusId": closed}, 201)
    bob = hq.user_id("bob@acme.example")
    role = hq.named("ProjectRoles", "Entwicklung")["Id"]
    member = call(spec, hq, "POST", "/v1/Projects({Id})/do.AddMember", f"/v1/Projects({pid})/do.AddMember",
                  {"UserId": bob, "ProjectRoleId": role, "ExternalChargeRateValue": 80, "ExternalChargeRateCurrency": "EUR"}, 201)
    link = hq.named("CustomFieldDefinitions", "awork Link")["Id"]
    call(spec, hq, "PUT", "/v1/Projects({Id})/CustomFields({CustomFieldDefinitionId})", f"/v1/Projects({pid})/CustomFields({link})",
         {"Name": "awork Link", "Value": "https://acme.awork.com/projects/spec"}, 200)
    phase = call(spec, hq, "POST", "/v1/ProjectTasks", "/v1/ProjectTasks", {"Name": "Phase", "ProjectId": pid, "PlannedEffort": 4}, 201)
    task = call(spec, hq, "POST", "/v1/ProjectTasks", "/v1/ProjectTasks",
                {"Name": "Task", "ProjectId": pid, "ParentId": phase["Id"], "SyncId": "spec-1", "StartOn": "2025-01-02T08:00:00Z"}, 201)
    task = call(spec, hq, "PUT", "/v1/ProjectTasks({Id})", f"/v1/ProjectTasks({task['Id']})", {**_plain(task), "PlannedEffort": 2.5}, 200)
    call(spec, hq, "POST", "/v1/ProjectTasks({Id})/do.Finish", f"/v1/ProjectTasks({task['Id']})/do.Finish", None, 200)
    call(spec, hq, "POST", "/v1/ProjectTasks({Id})/do.Open", f"/v1/ProjectTasks({task['Id']})/do.Open", None, 200)
    call(spec, hq, "POST", "/v1/ProjectTasks({Id})/do.SetStatus", f"/v1/ProjectTasks({task['Id']})/do.SetStatus", {"Status": task["TaskTypeStatusId"]}, 200)
    reporting = call(spec, hq, "POST", "/v1/Projects({Id})/do.CreateReporting", f"/v1/Projects({pid})/do.CreateReporting",
                     {"UserId": bob, "TaskId": task["Id"], "StartDate": "2025-01-02T08:00:00Z", "Duration": 3600, "Description": "x"}, 201)
    assert reporting["ChargeRateValue"] == 80.0
    rpath = f"/v1/Users({bob})/Reportings({reporting['Id']})"
    call(spec, hq, "PUT", "/v1/Users({Id})/Reportings({ReportingId})", rpath, {**_plain(reporting), "Note": "y"}, 200)
    call(spec, hq, "DELETE", "/v1/Users({Id})/Reportings({ReportingId})", rpath, None, 204)
    absence = call(spec, hq, "POST", "/v1/Users({Id})/Absences", f"/v1/Users({bob})/Absences",
                   {"UserId": bob, "Type": "Vacation", "Start": "2025-09-01T00:00:00", "End": "2025-09-02T00:00:00"}, 201)
    call(spec, hq, "DELETE", "/v1/Users({Id})/Absences({AbsenceId})", f"/v1/Users({bob})/Absences({absence['Id']})", None, 200)
    user = hq.sync.get(f"/v1/Users({bob})").json()
    call(spec, hq, "PUT", "/v1/Users({Id})", f"/v1/Users({bob})", {**_plain(user), "Department": "Dev"}, 200)
    quotation = call(spec, hq, "POST", "/v1/Quotations", "/v1/Quotations",
                     {"CompanyId": cid, "ProjectId": pid, "Subject": "S", "SyncId": "spec-q", "QuotationDate": "2025-01-01T00:00:00"}, 201)
    qid = quotation["Id"]
    call(spec, hq, "PUT", "/v1/Quotations({Id})", f"/v1/Quotations({qid})", {**_plain(quotation), "Subject": "S2"}, 200)
    pos = call(spec, hq, "POST", "/v1/Quotations({Id})/Positions", f"/v1/Quotations({qid})/Positions",
               {"Type": "Freetext", "Text": "P", "Amount": 2, "Price": 50, "Tax": 19}, 201)
    pos = call(spec, hq, "PUT", "/v1/Quotations({Id})/Positions({PositionId})", f"/v1/Quotations({qid})/Positions({pos['Id']})",
               {**_plain(pos), "Amount": 3}, 200)
    call(spec, hq, "POST", "/v1/Quotations({Id})/do.SetStatus", f"/v1/Quotations({qid})/do.SetStatus", {"Status": "Sent"}, 200)
    call(spec, hq, "DELETE", "/v1/Quotations({Id})/Positions({PositionId})", f"/v1/Quotations({qid})/Positions({pos['Id']})", None, 204)
    call(spec, hq, "DELETE", "/v1/Quotations({Id})", f"/v1/Quotations({qid})", None, 204)
    call(spec, hq, "DELETE", "/v1/Projects({Id})/Members({MemberId})", f"/v1/Projects({pid})/Members({member['Id']})", None, 204)
    call(spec, hq, "DELETE", "/v1/ProjectTasks({Id})", f"/v1/ProjectTasks({task['Id']})", None, 204)
    other = call(spec, hq, "POST", "/v1/Companies", "/v1/Companies", {"Name": "Weg"}, 201)
    call(spec, hq, "DELETE", "/v1/Companies({Id})", f"/v1/Companies({other['Id']})", None, 204)


def _plain(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if not k.startswith("@odata.")}
