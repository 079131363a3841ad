"""OData query options: $filter, $orderby, $top/$skip, $count, $select, $expand, and their errors."""

from __future__ import annotations

import pytest

from .conftest import HQ


def names(items: list[dict]) -> list[str]:
    return [i["Name"] for i in items]


def test_collection_envelope_and_count(hq: HQ) -> None:
    body = hq.sync.get("/v1/ProjectTasks", **{"$count": "true", "$top": "1"}).json()
    assert set(body) == {"@odata.context", "@odata.count", "value"}
    assert body["@odata.context"].endswith("/v1/$metadata#ProjectTasks")
    assert body["@odata.count"] == 4 and len(body["value"]) == 1
    only_count = hq.sync.get("/v1/ProjectTasks", **{"$count": "true", "$top": "0"}).json()
    assert only_count["@odata.count"] == 4 and only_count["value"] == []
    assert "@odata.count" not in hq.sync.get("/v1/ProjectTasks").json()


def test_top_and_skip_page_through_in_id_order(hq: HQ) -> None:
    all_ids = [t["Id"] for t in hq.sync.values("/v1/ProjectTasks")]
    assert all_ids == sorted(all_ids)
    pages = [hq.sync.values("/v1/ProjectTasks", **{"$top": "3", "$skip": str(s)}) for s in (0, 3)]
    assert [t["Id"] for p in pages for t in p] == all_ids


def test_top_above_1000_is_rejected_or_capped(hq: HQ) -> None:
    resp = hq.sync.get("/v1/UserReportings", **{"$top": "1001"})
    assert resp.status_code == 400
    assert "limit of '1000' for Top" in resp.json()["error"]["message"]
    hq.settings(top_over_max="cap")
    assert hq.sync.get("/v1/UserReportings", **{"$top": "5000"}).status_code == 200


def test_server_paging_adds_a_next_link(hq: HQ) -> None:
    hq.settings(server_page_size=2)
    first = hq.sync.get("/v1/ProjectTasks", **{"$filter": "ProjectId ne null"}).json()
    assert len(first["value"]) == 2
    link = first["@odata.nextLink"]
    assert "%24skip=2" in link and "%24filter=" in link
    second = hq.sync.session.get(link, timeout=10).json()
    third = hq.sync.session.get(second["@odata.nextLink"], timeout=10).json() if "@odata.nextLink" in second else {"value": []}
    ids = [t["Id"] for t in first["value"] + second["value"] + third["value"]]
    assert len(ids) == 4 and ids == sorted(ids)
    assert "@odata.nextLink" not in hq.sync.get("/v1/ProjectTasks", **{"$top": "2"}).json()
    # A $top above the page size is served in pages too; the link carries the rest of $top.
    capped = hq.sync.get("/v1/ProjectTasks", **{"$top": "3"}).json()
    assert len(capped["value"]) == 2 and "%24top=1" in capped["@odata.nextLink"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Name eq 'Wireframes'", ["Wireframes"]),
        ("Name ne 'Wireframes' and ParentId ne null", ["Moodboard", "Task"][:1]),
        ("PlannedEffort gt 16", ["Konzeption"]),
        ("PlannedEffort ge 16", ["Konzeption", "Wireframes"]),
        ("PlannedEffort lt 16 and PlannedEffort gt 0", ["Moodboard"]),
        ("PlannedEffort le 8 and ParentId ne null", ["Moodboard"]),
        ("SyncId eq 'task-1' or SyncId eq 'task-2'", ["Wireframes", "Moodboard"]),
        ("not (ParentId eq null)", ["Wireframes", "Moodboard"]),
        ("ParentId eq null and SyncId eq null", ["awork - Zeiten"]),
        ("contains(Name, 'frame')", ["Wireframes"]),
        ("startswith(Name, 'awork')", ["awork - Zeiten"]),
        ("endswith(Name, 'board')", ["Moodboard"]),
        ("tolower(Name) eq 'wireframes'", ["Wireframes"]),
        ("toupper(Name) eq 'MOODBOARD'", ["Moodboard"]),
        ("indexof(Name, 'board') ge 0", ["Moodboard"]),
        ("length(Name) eq 10", ["Konzeption", "Wireframes"]),
        ("SyncId in ('task-2', 'list-1')", ["Konzeption", "Moodboard"]),
        ("(SyncId eq 'task-1' or SyncId eq 'task-2') and PlannedEffort gt 10", ["Wireframes"]),
    ],
)
def test_filter_operators_and_functions(hq: HQ, expression: str, expected: list[str]) -> None:
    got = hq.sync.values("/v1/ProjectTasks", **{"$filter": expression})
    assert sorted(names(got)) == sorted(expected)


def test_filter_by_project_and_sync_id(hq: HQ) -> None:
    pid = hq.project("Website Relaunch")["Id"]
    task = hq.sync.one("/v1/ProjectTasks", **{"$filter": f"ProjectId eq {pid} and SyncId eq 'task-2'"})
    assert task["Name"] == "Moodboard"
    assert hq.sync.values("/v1/ProjectTasks", **{"$filter": f"ProjectId eq {pid + 1} and SyncId eq 'task-2'"}) == []


def test_filter_dates_with_bare_and_typed_literals(hq: HQ) -> None:
    reportings = hq.sync.values("/v1/UserReportings", **{"$filter": "StartOn ge 2025-02-04"})
    assert len(reportings) == 2
    same = hq.sync.values("/v1/UserReportings", **{"$filter": "StartOn ge datetime'2025-02-04T00:00:00Z'"})
    assert same == reportings
    # An offset is honoured: 10:00+01:00 is 09:00Z.
    at_nine = hq.sync.values("/v1/UserReportings", **{"$filter": "StartOn eq 2025-02-04T10:00:00+01:00"})
    assert [r["Note"] for r in at_nine] == ["Moodboard"]
    assert len(hq.sync.values("/v1/UserReportings", **{"$filter": "year(StartOn) eq 2025 and day(StartOn) eq 3"})) == 1


def test_incremental_read_with_updated_on(hq: HQ) -> None:
    items = hq.sync.values("/v1/Companies", **{"$orderby": "UpdatedOn desc"})
    newest = items[0]["UpdatedOn"]
    assert hq.sync.values("/v1/Companies", **{"$filter": f"UpdatedOn gt {newest}"}) == []
    company = items[-1]
    hq.sync.put(f"/v1/Companies({company['Id']})", {**company, "Description": "changed"})
    changed = hq.sync.values("/v1/Companies", **{"$filter": f"UpdatedOn gt {newest}"})
    assert [c["Id"] for c in changed] == [company["Id"]]


def test_filter_on_custom_fields_needs_the_expand(hq: HQ) -> None:
    expression = "CustomFields/any(c: c/Name eq 'awork Link' and c/Value ne null)"
    resp = hq.sync.get("/v1/Projects", **{"$filter": expression})
    assert resp.status_code == 400 and "$expand=CustomFields" in resp.json()["error"]["message"]
    found = hq.sync.values("/v1/Projects", **{"$filter": expression, "$expand": "CustomFields"})
    assert names(found) == ["Website Relaunch"]
    hq.settings(filter_requires_expand=False)
    assert names(hq.sync.values("/v1/Projects", **{"$filter": expression})) == ["Website Relaunch"]
    assert "CustomFields" not in hq.sync.values("/v1/Projects", **{"$filter": expression})[0]
    flagged = "CustomFields/any(c: c/Name eq 'awork-Projekt anlegen' and tolower(c/Value) eq 'true')"
    assert names(hq.sync.values("/v1/Projects", **{"$filter": flagged})) == ["Website Relaunch"]
    assert len(hq.sync.values("/v1/Projects", **{"$filter": "CustomFields/any()"})) == 3
    every = "CustomFields/all(c: c/Value eq null)"
    assert sorted(names(hq.sync.values("/v1/Projects", **{"$filter": every}))) == ["Intern Orga", "Ohne Regel"]


def test_filter_on_company_types_like_hqs_readme(hq: HQ) -> None:
    kunde = hq.named("CompanyTypes", "Kunde")["Id"]
    found = hq.sync.values("/v1/Companies", **{"$expand": "CompanyTypes", "$filter": f"CompanyTypes/any(t: t/Id eq {kunde})"})
    assert names(found) == ["Kunde GmbH"]
    by_name = hq.sync.values("/v1/Companies", **{"$expand": "CompanyTypes", "$filter": "CompanyTypes/any(t: t/Name eq 'Lieferant')"})
    assert names(by_name) == ["Ohne Regel AG"]


def test_string_comparison_case_switch(hq: HQ) -> None:
    # Default: like SQL Server's default collation (HQ's likely behaviour), case-insensitive.
    assert len(hq.sync.values("/v1/Users", **{"$filter": "EMailWork eq 'bob@acme.example'"})) == 1
    assert len(hq.sync.values("/v1/Users", **{"$filter": "contains(EMailWork, 'ACME')"})) == 2
    hq.settings(string_compare="case_sensitive")
    assert hq.sync.values("/v1/Users", **{"$filter": "EMailWork eq 'bob@acme.example'"}) == []
    assert hq.sync.values("/v1/Users", **{"$filter": "contains(EMailWork, 'ACME')"}) == []


def test_server_paging_without_next_link_and_default_switches(hq: HQ) -> None:
    hq.settings(server_page_size=2, next_link=False)
    body = hq.sync.get("/v1/ProjectTasks", **{"$count": "true"}).json()
    assert len(body["value"]) == 2 and body["@odata.count"] == 4 and "@odata.nextLink" not in body
    hq.settings(honour_count=False)
    assert "@odata.count" not in hq.sync.get("/v1/ProjectTasks", **{"$count": "true"}).json()

    # Global defaults apply to tenants registered afterwards; their own settings win.
    assert hq.admin.get("/settings")["string_compare"] == "case_insensitive"
    hq.admin.put("/settings", {"string_compare": "case_sensitive", "server_page_size": 7})
    hq.admin.post("/tenants", {"tenant": "later", "sync_token": "hq-later-sync", "settings": {"server_page_size": 9}})
    later = hq.admin.get("/tenants/later")["settings"]
    assert (later["string_compare"], later["server_page_size"]) == ("case_sensitive", 9)
    with pytest.raises(AssertionError, match="400"):
        hq.admin.put("/settings", {"string_compare": "sometimes"})


def test_orderby_select_and_expand(hq: HQ) -> None:
    tasks = hq.sync.values("/v1/ProjectTasks", **{"$orderby": "PlannedEffort desc,Name", "$select": "Name,PlannedEffort"})
    assert tasks[0] == {"Name": "Konzeption", "PlannedEffort": 40.0}
    assert all(set(t) == {"Name", "PlannedEffort"} for t in tasks)
    ordered = hq.sync.values("/v1/ProjectTasks", **{"$orderby": "ParentId,Order"})
    assert ordered[0]["ParentId"] is None  # nulls first
    reporting = hq.sync.values("/v1/UserReportings", **{
        "$expand": "Task($select=Name,TaskTypeId),User($select=EMailWork)", "$orderby": "StartOn", "$top": "1"})[0]
    assert reporting["Task"] == {"Name": "Wireframes", "TaskTypeId": reporting["Task"]["TaskTypeId"]}
    assert reporting["User"] == {"EMailWork": "anna@acme.example"}
    by_task_name = hq.sync.values("/v1/UserReportings", **{"$expand": "Task", "$filter": "Task/Name eq 'Moodboard'"})
    assert [r["Note"] for r in by_task_name] == ["Moodboard"]
    project = hq.sync.get(f"/v1/Projects({hq.project('Website Relaunch')['Id']})",
                          **{"$expand": "Members($expand=User($select=EMailWork);$select=Id,UserId)"}).json()
    assert {m["User"]["EMailWork"] for m in project["Members"]} == {"anna@acme.example", "Bob@Acme.example"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"$filter": "Name eq"}, "Syntax error at position 7 in 'Name eq': expected an expression after 'eq'"),
        ({"$filter": "Name eq 'open"}, "unterminated string literal"),
        ({"$filter": "Nme eq 'x'"}, "Could not find a property named 'Nme' on type 'HQ.Task'"),
        ({"$filter": "Name eq 'x' and"}, "unexpected end of the expression"),
        ({"$filter": "Name eq 'x' Order eq 1"}, "unexpected 'Order'"),
        ({"$filter": "frobnicate(Name)"}, "unknown function 'frobnicate'"),
        ({"$filter": "PlannedEffort eq 'x'"}, "incompatible types"),
        ({"$filter": "StartOn gt '2025-01-01'"}, "incompatible types"),
        ({"$filter": "Order add 1 eq 2"}, "the operator 'add' is not supported"),
        ({"$filter": "Name"}, "must be a Boolean expression"),
        ({"$filter": "(Name eq 'x'"}, "expected ')'"),
        ({"$orderby": "Name sideways"}, "expected 'Property [asc|desc]'"),
        ({"$select": "Name,Bogus"}, "Could not find a property named 'Bogus'"),
        ({"$expand": "Bogus"}, "Could not find a property named 'Bogus' to expand"),
        ({"$top": "-1"}, "not a valid value for $top"),
        ({"$skip": "x"}, "not a valid value for $skip"),
        ({"$count": "maybe"}, "not a valid value for $count"),
        ({"$format": "xml"}, "The query parameter '$format' is not supported"),
    ],
)
def test_bad_query_options_are_400_naming_the_problem(hq: HQ, params: dict, fragment: str) -> None:
    resp = hq.sync.get("/v1/ProjectTasks", **params)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "BadRequest"
    assert fragment in error["message"]


def test_expanding_across_mixed_cardinality_fails_like_hq(hq: HQ) -> None:
    resp = hq.sync.get("/v1/Projects", **{"$expand": "Company($expand=CustomFields)"})
    assert resp.status_code == 400 and "mixes cardinalities" in resp.json()["error"]["message"]
    ok = hq.sync.get("/v1/Quotations", **{"$expand": "Positions($expand=CustomFields)"})
    assert ok.status_code == 200


def test_orderby_through_a_navigation_and_key_forms(hq: HQ) -> None:
    ordered = hq.sync.values("/v1/UserReportings", **{"$orderby": "Task/Name desc,StartOn", "$select": "Note"})
    assert [r["Note"] for r in ordered] == ["Wireframes v1", "Review", "Moodboard"]
    pid = hq.project("Website Relaunch")["Id"]
    assert hq.sync.get(f"/v1/Projects(Id={pid})", **{"$select": "Name"}).json()["Name"] == "Website Relaunch"
    assert set(hq.sync.get(f"/v1/Projects({pid})", **{"$select": "Name"}).json()) == {"@odata.context", "Name"}
