"""Resources and their business rules: users, companies, projects, task lists, tasks, types of
work, time entries; every create/update/delete endpoint; errors in awork's shape."""

from __future__ import annotations

import re
import time
from typing import Any

from .awork_helpers import AworkClient, AworkSandbox, make_entry, make_project, make_type


GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["description"] and body["link"]
    return body


# -- users -----------------------------------------------------------------------------------
def test_users_carry_their_email_in_contact_infos(aw: AworkSandbox, acme: AworkClient) -> None:
    users = acme.ok("GET", "/users")
    by_name = {u["firstName"]: u for u in users}
    assert set(by_name) == {"Anna", "Ben", "API"}  # API users are listed too
    anna = by_name["Anna"]
    assert "email" not in anna
    assert anna["userContactInfos"][0] | {"type": "email", "value": "anna@acme.de"} == anna["userContactInfos"][0]
    assert GUID.match(anna["id"])
    infos = acme.ok("GET", f"/users/{anna['id']}/contactinfo")
    assert [i["value"] for i in infos] == ["anna@acme.de"]
    assert acme.ok("GET", f"/users/{anna['id']}")["lastName"] == "Admin"
    aw.admin.put("/tenants/acme/settings", {"list_api_users": False})
    assert {u["firstName"] for u in acme.ok("GET", "/users")} == {"Anna", "Ben"}


def test_archived_users_need_show_archived_and_email_changes(aw: AworkSandbox, acme: AworkClient) -> None:
    ben = aw.user_id("acme", "ben@acme.de")
    before = acme.ok("GET", f"/users/{ben}")
    aw.patch_user("acme", ben, {"isArchived": True, "email": "ben.b@acme.de"})
    assert "Ben" not in {u["firstName"] for u in acme.ok("GET", "/users")}
    archived = acme.ok("GET", "/users", params={"showArchived": "true"})
    ben_now = next(u for u in archived if u["id"] == ben)
    assert ben_now["userContactInfos"][0]["value"] == "ben.b@acme.de"
    assert ben_now["updatedOn"] > before["updatedOn"]


def test_unknown_ids_answer_404_not_found(acme: AworkClient) -> None:
    for path in ("/users/7d3f1a54-9f0e-4bd2-9a9a-000000000000", "/projects/not-a-guid",
                 "/timeentries/7d3f1a54-9f0e-4bd2-9a9a-000000000000"):
        assert_error(acme.get(path, validate=False), 404, "not-found")


# -- companies -------------------------------------------------------------------------------
def test_company_crud_and_delete_operations(acme: AworkClient) -> None:
    acme_gmbh = acme.ok("POST", "/companies", {"name": "Acme GmbH", "industry": "Agency"})
    other = acme.ok("POST", "/companies", {"name": "Other AG"})
    assert GUID.match(acme_gmbh["id"]) and TIMESTAMP.match(acme_gmbh["createdOn"])
    renamed = acme.ok("PUT", f"/companies/{acme_gmbh['id']}", {"name": "Acme Group", "industry": "Agency"})
    assert renamed["name"] == "Acme Group" and renamed["createdOn"] == acme_gmbh["createdOn"]
    assert renamed["updatedOn"] > acme_gmbh["updatedOn"]
    project = make_project(acme, "Shop", companyId=acme_gmbh["id"])
    assert project["company"]["name"] == "Acme Group"
    assert acme.ok("GET", f"/companies/{acme_gmbh['id']}")["projectsCount"] == 1
    assert_error(acme.post("/companies", {"description": "no name"}, validate=False), 400, "validation-failed")
    acme.ok("POST", f"/companies/{acme_gmbh['id']}/delete",
            {"deleteOperation": "move", "moveToCompany": other["id"]})
    assert acme.ok("GET", f"/projects/{project['id']}")["companyId"] == other["id"]
    assert acme.get(f"/companies/{acme_gmbh['id']}").status_code == 404
    acme.ok("POST", f"/companies/{other['id']}/delete", {"deleteOperation": "delete-only-company"})
    assert acme.ok("GET", f"/projects/{project['id']}")["companyId"] is None


# -- projects --------------------------------------------------------------------------------
def test_project_create_answers_200_with_key_and_status(acme: AworkClient) -> None:
    resp = acme.post("/projects", {"name": "Website Relaunch", "projectKey": "web-1"})
    assert resp.status_code == 200
    project = resp.json()
    assert project["projectKey"] == "WEB-1"  # lower case is normalised
    assert project["projectStatus"]["type"] == "not-started"
    assert project["isBillableByDefault"] is True
    assert acme.ok("GET", "/projects/key/web-1")["id"] == project["id"]
    assert make_project(acme, "Brand New Campaign")["projectKey"] == "BNC"  # generated
    assert_error(acme.post("/projects", {"name": "Dup", "projectKey": "WEB-1"}, validate=False),
                 400, "duplication-violation")
    assert_error(acme.post("/projects", {"name": "Bad", "projectKey": "no spaces"}, validate=False),
                 400, "validation-failed")


def test_project_update_key_status_and_delete(acme: AworkClient) -> None:
    project = make_project(acme, "Website")
    updated = acme.ok("PUT", f"/projects/{project['id']}", {"name": "Website 2", "isBillableByDefault": False})
    assert updated["name"] == "Website 2" and updated["isBillableByDefault"] is False
    assert updated["updatedOn"] > project["updatedOn"] and updated["createdOn"] == project["createdOn"]
    keyed = acme.ok("POST", f"/projects/{project['id']}/setprojectkey", {"projectKey": "NEU"})
    assert keyed["projectKey"] == "NEU"
    statuses = acme.ok("GET", f"/projects/{project['id']}/projectstatuses")
    done = next(s for s in statuses if s["type"] == "closed")
    acme.ok("POST", f"/projects/{project['id']}/changestatus", {"projectStatusId": done["id"]})
    closed = acme.ok("GET", f"/projects/{project['id']}")
    assert closed["projectStatus"]["type"] == "closed" and closed["closedOn"]
    assert [s["type"] for s in acme.ok("GET", f"/projects/{project['id']}/taskstatuses")] == [
        "todo", "progress", "review", "done"]
    assert acme.ok("GET", "/projectstatuses")


def test_deleting_a_project_keeps_its_time_entries_detached(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, tow = aw.user_id("acme", "anna@acme.de"), make_type(acme)["id"]
    project = make_project(acme)
    task = acme.ok("POST", "/tasks", {"name": "T", "baseType": "projecttask", "entityId": project["id"]})
    entry = make_entry(acme, anna, tow, taskId=task["id"])
    assert entry["projectId"] == project["id"]  # derived from the task
    acme.ok("POST", f"/projects/{project['id']}/delete", {"deleteTimeTrackings": False})
    assert acme.get(f"/projects/{project['id']}").status_code == 404
    assert acme.get(f"/tasks/{task['id']}").status_code == 404
    kept = acme.ok("GET", f"/timeentries/{entry['id']}")
    assert kept["projectId"] is None and kept["taskId"] is None
    other = make_project(acme, "Other")
    gone = make_entry(acme, anna, tow, projectId=other["id"])
    acme.ok("POST", f"/projects/{other['id']}/delete", {"deleteTimeTrackings": True})
    assert acme.get(f"/timeentries/{gone['id']}").status_code == 404


# -- task lists and tasks --------------------------------------------------------------------
def test_tasks_in_two_lists_with_type_of_work_and_planned_duration(acme: AworkClient) -> None:
    first_type, design = make_type(acme, "Konzeption"), make_type(acme, "Design")
    project = make_project(acme, "Website", projectKey="WEB")
    pid = project["id"]
    concept = acme.ok("POST", f"/projects/{pid}/tasklists", {"name": "Konzeption [5,4d]"})
    review = acme.ok("POST", f"/projects/{pid}/tasklists", {"name": "Review [2,5h]"})
    task = acme.ok("POST", "/tasks", {
        "name": "Sitemap", "baseType": "projecttask", "entityId": pid, "plannedDuration": 21600,
        "typeOfWorkId": design["id"], "lists": [{"id": concept["id"], "order": 1}, {"id": review["id"]}]})
    assert task["taskIdentifier"] == "WEB-1" and task["projectId"] == pid and task["entityId"] == pid
    assert [lst["name"] for lst in task["lists"]] == ["Konzeption [5,4d]", "Review [2,5h]"]
    assert task["typeOfWork"]["name"] == "Design" and task["plannedDuration"] == 21600
    assert task["taskStatus"]["type"] == "todo"
    plain = acme.ok("POST", "/tasks", {"name": "Plain", "baseType": "projecttask", "entityId": pid})
    assert plain["typeOfWorkId"] == first_type["id"]  # the workspace's first type of work
    assert plain["taskIdentifier"] == "WEB-2" and plain["lists"] == []
    tasks = acme.ok("GET", f"/projects/{pid}/projecttasks")
    assert {t["name"] for t in tasks} == {"Sitemap", "Plain"}
    lists = acme.ok("GET", f"/projects/{pid}/tasklists")
    assert [(lst["name"], lst["totalPlannedDuration"]) for lst in lists] == [
        ("Konzeption [5,4d]", 21600), ("Review [2,5h]", 21600)]
    assert acme.ok("GET", f"/tasks/key/web-1")["id"] == task["id"]
    assert acme.ok("GET", f"/projects/{pid}/projecttasks/{task['id']}")["name"] == "Sitemap"
    assert_error(acme.post("/tasks", {"name": "No project", "baseType": "projecttask"}, validate=False),
                 400, "validation-failed")


def test_adding_and_removing_tasks_from_lists(acme: AworkClient) -> None:
    make_type(acme)
    pid = make_project(acme)["id"]
    concept = acme.ok("POST", f"/projects/{pid}/tasklists", {"name": "Konzeption"})
    review = acme.ok("POST", f"/projects/{pid}/tasklists", {"name": "Review"})
    task = acme.ok("POST", "/tasks", {"name": "T", "baseType": "projecttask", "entityId": pid})
    result = acme.ok("POST", f"/projects/{pid}/tasklists/{concept['id']}/addtasks", [{"taskId": task["id"]}])
    assert result == [{"id": task["id"], "order": 1.0}]
    acme.ok("POST", f"/projects/{pid}/tasklists/{review['id']}/addtasks", [{"taskId": task["id"], "order": 5}])
    assert [lst["name"] for lst in acme.ok("GET", f"/tasks/{task['id']}")["lists"]] == ["Konzeption", "Review"]
    acme.ok("POST", f"/projects/{pid}/tasklists/{concept['id']}/removetasks", [task["id"]])
    assert [lst["name"] for lst in acme.ok("GET", f"/tasks/{task['id']}")["lists"]] == ["Review"]
    acme.ok("POST", "/tasks/changelists", [{"taskId": task["id"], "taskLists": [{"id": concept["id"]}]}])
    assert [lst["name"] for lst in acme.ok("GET", f"/tasks/{task['id']}")["lists"]] == ["Konzeption"]
    renamed = acme.ok("PUT", f"/projects/{pid}/tasklists/{concept['id']}", {"name": "Konzeption [1d]"})
    assert renamed["name"] == "Konzeption [1d]"
    acme.ok("POST", f"/projects/{pid}/tasklists/{concept['id']}/delete", {"deleteTasks": False})
    assert acme.ok("GET", f"/tasks/{task['id']}")["lists"] == []
    assert acme.get(f"/projects/{pid}/tasklists/{concept['id']}").status_code == 404


def test_task_update_status_and_delete(aw: AworkSandbox, acme: AworkClient) -> None:
    tow = make_type(acme)["id"]
    other_type = make_type(acme, "Design")["id"]
    pid = make_project(acme)["id"]
    task = acme.ok("POST", "/tasks", {"name": "T", "baseType": "projecttask", "entityId": pid,
                                      "plannedDuration": 3600})
    updated = acme.ok("PUT", f"/tasks/{task['id']}", {"name": "T2", "plannedDuration": 7200})
    assert updated["name"] == "T2" and updated["plannedDuration"] == 7200
    assert updated["updatedOn"] > task["updatedOn"]
    done = next(s for s in acme.ok("GET", f"/projects/{pid}/taskstatuses") if s["type"] == "done")
    acme.ok("POST", "/tasks/changestatuses", [{"taskId": task["id"], "statusId": done["id"]}])
    assert acme.ok("GET", f"/tasks/{task['id']}")["closedOn"]
    entry = make_entry(acme, aw.user_id("acme", "ben@acme.de"), tow, taskId=task["id"])
    acme.ok("POST", "/tasks/changetypeofwork", {"taskIds": [task["id"]], "typeOfWorkId": other_type,
                                                 "changeTimeEntries": True})
    assert acme.ok("GET", f"/timeentries/{entry['id']}")["typeOfWorkId"] == other_type
    assert acme.ok("GET", f"/tasks/{task['id']}/timeentries")[0]["id"] == entry["id"]
    acme.ok("POST", "/tasks/delete", {"taskIds": [task["id"]], "deleteTimeTrackings": False})
    assert acme.get(f"/tasks/{task['id']}").status_code == 404
    kept = acme.ok("GET", f"/timeentries/{entry['id']}")
    assert kept["taskId"] is None and kept["projectId"] == pid
    partial = acme.post("/tasks/delete", {"taskIds": [task["id"]]})
    assert partial.status_code == 207 and partial.json()["notFound"]["ids"] == [task["id"]]


def test_project_tasks_alias_is_a_switch(aw: AworkSandbox, acme: AworkClient) -> None:
    pid = make_project(acme)["id"]
    assert acme.get(f"/projects/{pid}/tasks", validate=False).status_code == 404
    aw.admin.put("/tenants/acme/settings", {"project_tasks_alias": True})
    assert acme.get(f"/projects/{pid}/tasks", validate=False).status_code == 200


# -- types of work ---------------------------------------------------------------------------
def test_types_of_work_crud_archive_and_delete_with_replacement(aw: AworkSandbox, acme: AworkClient) -> None:
    old, new = make_type(acme, "Alt"), make_type(acme, "Neu")
    assert_error(acme.post("/typeofwork", {"name": "alt"}, validate=False), 400, "duplication-violation")
    renamed = acme.ok("PUT", f"/typeofwork/{old['id']}", {"name": "Alt2", "icon": "star"})
    assert renamed["icon"] == "star"
    entry = make_entry(acme, aw.user_id("acme", "anna@acme.de"), old["id"])
    archived = acme.ok("POST", f"/typeofwork/{new['id']}/setarchived", {"isArchived": True})
    assert archived["isArchived"] is True
    assert [t["name"] for t in acme.ok("GET", "/typeofwork")] == ["Alt2"]
    assert len(acme.ok("GET", "/typeofwork", params={"showArchived": "true"})) == 2
    assert_error(acme.post("/timeentries", {
        "timezone": "UTC", "userId": entry["userId"], "typeOfWorkId": new["id"],
        "startDateUtc": "2026-03-02T08:00:00Z", "duration": 60}), 400, "entity-archived")
    assert_error(acme.post(f"/typeofwork/{old['id']}/delete", {}), 400, "invalid-operation")
    acme.ok("POST", f"/typeofwork/{new['id']}/setarchived", {"isArchived": False})
    acme.ok("POST", f"/typeofwork/{old['id']}/delete", {"typeOfWorkId": new["id"]})
    assert acme.ok("GET", f"/timeentries/{entry['id']}")["typeOfWorkId"] == new["id"]


# -- time entries ----------------------------------------------------------------------------
def test_time_entry_create_answers_200_with_utc_and_local_parts(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, tow = aw.user_id("acme", "anna@acme.de"), make_type(acme)["id"]
    project = make_project(acme, isBillableByDefault=False)
    resp = acme.post("/timeentries", {
        "timezone": "Europe/Berlin", "userId": anna, "typeOfWorkId": tow, "projectId": project["id"],
        "startDateUtc": "2026-07-14T10:00:00Z", "duration": 5400, "note": "Entwurf"})
    assert resp.status_code == 200
    e = resp.json()
    assert GUID.match(e["id"]) and TIMESTAMP.match(e["createdOn"]) and e["createdOn"] == e["updatedOn"]
    assert (e["startDateUtc"], e["startTimeUtc"], e["endTimeUtc"]) == ("2026-07-14T00:00:00Z", "10:00:00", "11:30:00")
    assert (e["startDateLocal"], e["startTimeLocal"]) == ("2026-07-14T00:00:00", "12:00:00")  # CEST
    assert e["duration"] == 5400 and e["isBillable"] is False  # from the project's default
    assert e["user"]["firstName"] == "Anna" and e["project"]["name"] == project["name"]
    # Local input, start + end (end wins over a duration).
    local = acme.ok("POST", "/timeentries", {
        "timezone": "Europe/Berlin", "userId": anna, "typeOfWorkId": tow,
        "startDateLocal": "2026-01-05T00:00:00", "startTimeLocal": "09:00:00",
        "endDateLocal": "2026-01-05T00:00:00", "endTimeLocal": "10:15:00", "duration": 1})
    assert (local["startTimeUtc"], local["duration"]) == ("08:00:00", 4500)
    # Date-only.
    day = acme.ok("POST", "/timeentries", {"timezone": "Europe/Berlin", "userId": anna,
                                            "typeOfWorkId": tow, "startDateUtc": "2026-01-06T00:00:00Z",
                                            "duration": 1800})
    assert day["startTimeUtc"] is None and day["startDateUtc"] == "2026-01-06T00:00:00Z"


def test_time_entry_validation(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, tow = aw.user_id("acme", "anna@acme.de"), make_type(acme)["id"]
    body = assert_error(acme.post("/timeentries", {"duration": 60}, validate=False), 400, "validation-failed")
    assert {v["property"] for v in body["validationErrors"]} >= {"Timezone", "TypeOfWorkId", "UserId"}
    both = {"timezone": "UTC", "userId": anna, "typeOfWorkId": tow, "duration": 60,
            "startDateUtc": "2026-01-06T08:00:00Z", "startDateLocal": "2026-01-06T00:00:00",
            "startTimeLocal": "09:00:00"}
    assert_error(acme.post("/timeentries", both), 400, "invalid-model")
    assert_error(acme.post("/timeentries", {"timezone": "Mars/Base", "userId": anna, "typeOfWorkId": tow,
                                            "startDateUtc": "2026-01-06T08:00:00Z", "duration": 60}),
                 400, "validation-failed")
    assert_error(acme.post("/timeentries", {"timezone": "UTC", "userId": anna,
                                            "typeOfWorkId": "7d3f1a54-9f0e-4bd2-9a9a-000000000000",
                                            "startDateUtc": "2026-01-06T08:00:00Z", "duration": 60},
                           validate=False), 404, "not-found")


def test_time_entry_update_and_delete(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, ben, tow = aw.user_id("acme", "anna@acme.de"), aw.user_id("acme", "ben@acme.de"), make_type(acme)["id"]
    entry = make_entry(acme, anna, tow, note="alt")
    time.sleep(0.01)
    updated = acme.ok("PUT", f"/timeentries/{entry['id']}", {
        "timezone": "Europe/Berlin", "typeOfWorkId": tow, "startDateUtc": "2026-03-02T00:00:00Z",
        "startTimeUtc": "10:00:00", "duration": 7200, "note": "neu", "isBilled": True, "isBillable": True})
    assert (updated["note"], updated["duration"], updated["isBilled"]) == ("neu", 7200, True)
    assert updated["userId"] == anna  # PUT without userId keeps the user
    assert updated["createdOn"] == entry["createdOn"] and updated["updatedOn"] > entry["updatedOn"]
    assert updated["resourceVersion"] > entry["resourceVersion"]
    assert acme.delete(f"/timeentries/{entry['id']}").status_code == 204
    assert acme.get(f"/timeentries/{entry['id']}").status_code == 404
    assert acme.ok("GET", "/timeentries") == []  # no tombstone, no deletion feed
    a, b = make_entry(acme, anna, tow), make_entry(acme, ben, tow)
    acme.ok("POST", "/timeentries/delete", {"ids": [a["id"]]})
    assert [e["id"] for e in acme.ok("GET", "/timeentries")] == [b["id"]]


def test_time_entry_batch_operations(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, tow = aw.user_id("acme", "anna@acme.de"), make_type(acme)["id"]
    a, b = make_entry(acme, anna, tow), make_entry(acme, anna, tow)
    missing = "7d3f1a54-9f0e-4bd2-9a9a-000000000000"
    resp = acme.post("/timeentries/batch/setIsBilled", {"timeEntryIds": [a["id"], missing], "isBilled": True})
    assert resp.status_code == 207
    assert resp.json()["ok"]["ids"] == [a["id"]] and resp.json()["notFound"]["ids"] == [missing]
    assert acme.ok("GET", f"/timeentries/{a['id']}")["isBilled"] is True
    resp = acme.post("/timeentries/batch/delete", {"timeEntryIds": [b["id"]]})
    assert resp.status_code == 207 and acme.get(f"/timeentries/{b['id']}").status_code == 404
    assert_error(acme.post("/timeentries/batch/explode", {"timeEntryIds": [a["id"]]}, validate=False),
                 404, "not-found")


def test_project_time_entries_and_tracked_sums(aw: AworkSandbox, acme: AworkClient) -> None:
    anna, tow = aw.user_id("acme", "anna@acme.de"), make_type(acme)["id"]
    pid = make_project(acme)["id"]
    task = acme.ok("POST", "/tasks", {"name": "T", "baseType": "projecttask", "entityId": pid})
    make_entry(acme, anna, tow, taskId=task["id"], duration=1800)
    make_entry(acme, anna, tow, projectId=pid, duration=600, isBillable=False)
    make_entry(acme, anna, tow, duration=60)
    assert len(acme.ok("GET", f"/projects/{pid}/timeentries")) == 2
    assert acme.ok("GET", f"/projects/{pid}")["trackedDuration"] == 1800  # billable only
    assert acme.ok("GET", f"/tasks/{task['id']}")["trackedDuration"] == 1800
