"""CONFORMANCE: a tour over every implemented endpoint that awork's OpenAPI spec describes; each
request body and each JSON answer is validated against the spec (awork_helpers.Conformance)."""

from __future__ import annotations

from typing import Any

from .awork_helpers import AworkClient, AworkSandbox



def covered(client: AworkClient, method: str, path: str, body: Any = None, *,
            status: int = 200, params: dict[str, Any] | None = None) -> Any:
    """Call, assert the status and that the spec validated the (JSON) answer; returns the JSON.
    Bodies of calls expected to fail with 400 are not checked (they are invalid on purpose)."""
    validate: bool | str = "response" if status == 400 else True
    resp = client.request(method, path, json_body=body, params=params, validate=validate)
    assert resp.status_code == status, f"{method} {path} -> {resp.status_code}: {resp.text}"
    if resp.content:
        assert client.last_covered, f"the spec did not cover {method} {path} -> {resp.status_code}"
        return resp.json()
    return None


def test_every_endpoint_conforms_to_the_spec(aw: AworkSandbox, acme: AworkClient) -> None:
    c = acme
    anna = aw.user_id("acme", "anna@acme.de")
    # users
    covered(c, "GET", "/me")
    covered(c, "GET", "/users/me")
    covered(c, "GET", "/users", params={"showArchived": "true", "pageSize": 10})
    covered(c, "GET", f"/users/{anna}")
    info = covered(c, "GET", f"/users/{anna}/contactinfo")[0]
    covered(c, "GET", f"/users/{anna}/contactinfo/{info['id']}")
    # types of work
    tow = covered(c, "POST", "/typeofwork", {"name": "Konzeption", "description": "Ideen", "icon": "lightbulb"})
    covered(c, "GET", "/typeofwork", params={"showArchived": "false"})
    covered(c, "GET", f"/typeofwork/{tow['id']}")
    covered(c, "PUT", f"/typeofwork/{tow['id']}", {"name": "Konzeption", "icon": "star"})
    spare = covered(c, "POST", "/typeofwork", {"name": "Spare"})
    covered(c, "POST", f"/typeofwork/{spare['id']}/setarchived", {"isArchived": True})
    covered(c, "POST", f"/typeofwork/{spare['id']}/delete", {"typeOfWorkId": tow["id"]}, status=204)
    # companies
    company = covered(c, "POST", "/companies", {"name": "Acme GmbH", "industry": "Agency"})
    covered(c, "GET", "/companies")
    covered(c, "GET", f"/companies/{company['id']}")
    covered(c, "PUT", f"/companies/{company['id']}", {"name": "Acme GmbH & Co. KG"})
    covered(c, "POST", "/companies", {"description": "no name"}, status=400)
    # projects (with and without company: nested objects must fit either way)
    project = covered(c, "POST", "/projects", {
        "name": "Website", "companyId": company["id"], "projectKey": "WEB", "isBillableByDefault": True,
        "startDate": "2026-01-01T00:00:00Z", "dueDate": "2026-06-30T00:00:00Z", "timeBudget": 360000})
    pid = project["id"]
    covered(c, "POST", "/projects", {"name": "Intern"})
    covered(c, "GET", "/projects")
    covered(c, "GET", f"/projects/{pid}")
    covered(c, "GET", "/projects/key/WEB")
    covered(c, "PUT", f"/projects/{pid}", {"name": "Website", "companyId": company["id"]})
    covered(c, "POST", f"/projects/{pid}/setprojectkey", {"projectKey": "WWW"})
    statuses = covered(c, "GET", f"/projects/{pid}/projectstatuses")
    covered(c, "GET", "/projectstatuses")
    covered(c, "POST", f"/projects/{pid}/changestatus", {"projectStatusId": statuses[1]["id"]}, status=204)
    task_statuses = covered(c, "GET", f"/projects/{pid}/taskstatuses")
    covered(c, "GET", f"/projects/{pid}/typeofwork")
    # task lists
    concept = covered(c, "POST", f"/projects/{pid}/tasklists", {"name": "Konzeption [5,4d]", "order": 1})
    review = covered(c, "POST", f"/projects/{pid}/tasklists", {"name": "Review [2,5h]"})
    covered(c, "GET", f"/projects/{pid}/tasklists", params={"showArchived": "true"})
    covered(c, "GET", f"/projects/{pid}/tasklists/{concept['id']}")
    covered(c, "PUT", f"/projects/{pid}/tasklists/{concept['id']}", {"name": "Konzeption [5,5d]"})
    # tasks
    task = covered(c, "POST", "/tasks", {
        "name": "Sitemap", "baseType": "projecttask", "entityId": pid, "plannedDuration": 21600,
        "typeOfWorkId": tow["id"], "lists": [{"id": concept["id"], "order": 1}, {"id": review["id"], "order": 1}],
        "dueOn": "2026-02-01T17:00:00Z"})
    other = covered(c, "POST", "/tasks", {"name": "Logo", "baseType": "projecttask", "entityId": pid})
    covered(c, "POST", "/tasks", {"name": "Privat", "baseType": "private"})
    covered(c, "GET", f"/tasks/{task['id']}")
    covered(c, "GET", f"/tasks/key/{task['taskIdentifier']}")
    covered(c, "PUT", f"/tasks/{task['id']}", {"name": "Sitemap v2", "plannedDuration": 28800})
    covered(c, "POST", f"/projects/{pid}/tasklists/{review['id']}/addtasks", [{"taskId": other["id"]}])
    covered(c, "POST", f"/projects/{pid}/tasklists/{review['id']}/removetasks", [other["id"]], status=204)
    covered(c, "POST", "/tasks/changelists", [{"taskId": other["id"], "taskLists": [{"id": concept["id"]}]}])
    covered(c, "POST", "/tasks/changestatuses", [{"taskId": other["id"], "statusId": task_statuses[1]["id"]}],
            status=204)
    covered(c, "POST", f"/tasks/{task['id']}/setassignees", [anna], status=204)
    covered(c, "GET", f"/projects/{pid}/projecttasks")
    covered(c, "GET", f"/projects/{pid}/projecttasks/{task['id']}")
    covered(c, "POST", f"/projects/{pid}/tasklists/{review['id']}/setarchived", {"isArchived": True})
    # time entries
    entry = covered(c, "POST", "/timeentries", {
        "timezone": "Europe/Berlin", "userId": anna, "typeOfWorkId": tow["id"], "taskId": task["id"],
        "startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "08:00:00", "duration": 3600,
        "note": "Sitemap", "isBillable": True})
    covered(c, "POST", "/timeentries", {
        "timezone": "Europe/Berlin", "userId": anna, "typeOfWorkId": tow["id"],
        "startDateLocal": "2026-03-03T00:00:00", "duration": 1800})
    covered(c, "GET", "/timeentries", params={"filterby": f"projectId eq guid'{pid}'", "pageSize": 100})
    covered(c, "GET", f"/timeentries/{entry['id']}")
    covered(c, "PUT", f"/timeentries/{entry['id']}", {
        "timezone": "Europe/Berlin", "typeOfWorkId": tow["id"], "taskId": task["id"],
        "startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "09:00:00", "duration": 1800})
    covered(c, "GET", f"/projects/{pid}/timeentries")
    covered(c, "GET", f"/tasks/{task['id']}/timeentries")
    covered(c, "POST", "/timeentries/batch/setIsBilled", {"timeEntryIds": [entry["id"]], "isBilled": True},
            status=207)
    covered(c, "POST", "/timeentries", {"timezone": "Europe/Berlin"}, status=400)
    covered(c, "DELETE", f"/timeentries/{entry['id']}", status=204)
    covered(c, "POST", "/timeentries/delete", {"ids": []}, status=204)
    # deletes
    covered(c, "POST", "/tasks/delete", {"taskIds": [other["id"]], "deleteTimeTrackings": False}, status=204)
    covered(c, "POST", f"/projects/{pid}/tasklists/{concept['id']}/delete", {"deleteTasks": False}, status=204)
    covered(c, "POST", f"/projects/{pid}/delete", {"deleteTimeTrackings": False}, status=204)
    covered(c, "POST", f"/companies/{company['id']}/delete", {"deleteOperation": "delete-only-company"},
            status=204)
    # errors the spec declares
    covered(c, "GET", f"/projects/{pid}/projecttasks", status=404)
    covered(aw.client("bad-token"), "POST", "/timeentries", {
        "timezone": "Europe/Berlin", "userId": anna, "typeOfWorkId": tow["id"]}, status=401)


def test_null_nested_objects_switch(aw: AworkSandbox, acme: AworkClient) -> None:
    """By default a project without company omits ``company`` (the spec forbids null there);
    the switch sends ``null`` like a .NET serializer might (then the spec check is skipped)."""
    project = covered(acme, "POST", "/projects", {"name": "Solo"})
    assert "company" not in project
    aw.admin.put("/tenants/acme/settings", {"null_nested_objects": "null"})
    raw = acme.get(f"/projects/{project['id']}", validate=False).json()
    assert raw["company"] is None and raw["projectType"] is None
