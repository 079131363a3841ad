"""HqClient against the HQ sandbox over HTTP: paging whatever HQ's server page size is (issue #10)."""

from __future__ import annotations

import pytest

from hq_sync.clients.hq import HqClient
from sandboxes.hq.seed import seed_tenant
from sandboxes.testing import SandboxServers

TOKEN = "hq-paging-sync"
USERS = 24


@pytest.fixture
def hq(fresh_sandboxes: SandboxServers) -> tuple[SandboxServers, HqClient]:
    seed_tenant(fresh_sandboxes.url("hq"), "paging", {
        "sync_token": TOKEN,
        "users": [{"name": f"User {i:02d}", "email": f"user{i:02d}@paging.example"} for i in range(USERS)],
    })
    return fresh_sandboxes, HqClient(fresh_sandboxes.url("hq") + "/v1", TOKEN)


def _settings(sb: SandboxServers, **switches: object) -> None:
    sb.admin("hq").put("/tenants/paging/settings", switches)


@pytest.mark.parametrize(
    ("switches", "requests_needed"),
    [
        ({}, 1),  # one page of 1000 holds all
        ({"server_page_size": 10}, 3),  # 10 + 10 + 4, following @odata.nextLink
        ({"server_page_size": 10, "next_link": False}, 3),  # no link: $skip on until @odata.count is reached
        ({"server_page_size": 10, "next_link": False, "honour_count": False}, 4),  # ... or an empty page
        ({"server_page_size": 7, "next_link": False, "honour_count": False}, 5),
    ],
)
def test_every_user_is_read_whatever_the_server_page_size(hq, switches, requests_needed) -> None:
    sb, client = hq
    _settings(sb, **switches)
    before = client.requests_sent
    users = client.users()
    assert sorted(u["EMailWork"] for u in users) == [f"user{i:02d}@paging.example" for i in range(USERS)]
    assert len({u["Id"] for u in users}) == USERS
    assert client.requests_sent - before == requests_needed


def test_a_next_link_to_another_host_is_refused(hq) -> None:
    from hq_sync.clients.http import ClientError

    sb, client = hq
    _settings(sb, server_page_size=10)
    client.session.headers["Host"] = "elsewhere.example"  # the sandbox builds its links from the Host header
    with pytest.raises(ClientError, match="foreign host"):
        client.users()


@pytest.mark.parametrize("string_compare", ["case_insensitive", "case_sensitive"])
def test_nothing_the_client_looks_up_depends_on_case(fresh_sandboxes, string_compare) -> None:
    """Custom-field names, SyncIds, offer numbers and e-mails: the same answer in both positions."""
    url = fresh_sandboxes.url("hq")
    seed_tenant(url, "cases", {
        "sync_token": "hq-cases-sync",
        "settings": {"string_compare": string_compare},
        "users": [{"name": "Bob Meier", "email": "Bob.Meier@Cases.example"}],
        "companies": [{"name": "Kunde GmbH"}],
        "project_templates": [{"name": "Kundenprojekt"}],
        "custom_fields": [{"name": "awork Link", "type": "Link", "category": "Project"}],
        "projects": [{
            "name": "Relaunch", "company": "Kunde GmbH", "start": "2026-01-01",
            "custom_fields": {"awork Link": "https://x.awork.com/projects/p1"},
            "phases": [{"name": "Konzeption", "sync_id": "AWORK-LIST:ABC"}],
        }],
        "quotations": [{"project": "Relaunch", "subject": "Offer", "positions": [{"text": "Work", "amount": 1, "price": 10}]}],
    })
    client = HqClient(url + "/v1", "hq-cases-sync")
    definition = client.custom_field_definition_id("AWORK LINK")
    assert definition is not None and client.custom_field_name("Awork link") == "awork Link"
    assert [p["Name"] for p in client.projects_with_custom_field("AWORK LINK")] == ["Relaunch"]
    project_id = client.all("Projects")[0]["Id"]
    assert [t["Name"] for t in client.project_tasks_by_sync_id(project_id, "awork-list:abc")] == ["Konzeption"]
    number = client.all("Quotations")[0]["Number"]
    assert client.quotation_by_number(number.lower())["Number"] == number
    assert client.quotation_by_number(number.upper() + "-x") is None
    assert [u["EMailWork"] for u in client.users()] == ["Bob.Meier@Cases.example"]  # compared casefolded by callers


# -- OAuth (issue #10) --------------------------------------------------------------------------------
APP, SECRET, REDIRECT = "12345-hqsync", "app-secret", "https://paging.hellohq.io/oauth/hq"


class MemoryStore:
    def __init__(self, token: str | None, fail: bool = False) -> None:
        self.token, self.fail, self.saved = token, fail, []

    def load(self) -> str | None:
        return self.token

    def save(self, refresh_token: str) -> None:
        if self.fail:
            raise OSError("disk full")
        self.token = refresh_token
        self.saved.append(refresh_token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _grant(sb: SandboxServers) -> dict:
    """A refresh token as the connect command leaves it (authorization code flow)."""
    import requests

    from hq_sync.connect.hq import authorize_url

    sb.admin("hq").post("/tenants/paging/oauth-clients", {"app_id": APP, "app_secret": SECRET, "redirect_uris": [REDIRECT],
                                                          "user": "user01@paging.example"})
    location = requests.get(authorize_url(sb.url("hq") + "/v1", APP, REDIRECT, "st"), allow_redirects=False, timeout=10).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    return requests.post(sb.url("hq") + "/Token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                         auth=(APP, SECRET), timeout=10).json()


def _oauth_client(sb: SandboxServers, store: MemoryStore, clock: Clock) -> tuple[HqClient, object]:
    from hq_sync.clients.hq import HqOAuthTokens, hq_token_url

    tokens = HqOAuthTokens(APP, SECRET, hq_token_url(sb.url("hq") + "/v1"), store, tenant="paging", clock=clock)
    return HqClient(sb.url("hq") + "/v1", tokens), tokens


def test_oauth_refreshes_before_expiry_and_once_after_a_401_storing_each_rotation(hq) -> None:
    sb, _ = hq
    sb.admin("hq").put("/tenants/paging/settings", {"access_token_lifetime": 1199})
    store, clock = MemoryStore(_grant(sb)["refresh_token"]), Clock()
    client, tokens = _oauth_client(sb, store, clock)
    assert len(client.users()) == USERS and tokens.refreshes == 1 and len(store.saved) == 1  # rotated, stored
    client.users()
    assert tokens.refreshes == 1  # the access token is reused while valid
    clock.now += 1199 - 60  # within the renewal margin (at most 10 % of the lifetime): renewed before it expires
    client.users()
    assert tokens.refreshes == 2 and len(store.saved) == 2
    sb.admin("hq").post("/tenants/paging/oauth/expire", {})  # HQ ends it early: one 401, one refresh, one retry
    assert len(client.users()) == USERS and tokens.refreshes == 3
    assert len(set(store.saved)) == 3

    sb.admin("hq").put("/tenants/paging/settings", {"refresh_token_rotation": False})
    sb.admin("hq").post("/tenants/paging/oauth/expire", {})
    client.users()
    assert tokens.refreshes == 4 and len(store.saved) == 3  # the same refresh token: nothing to store


def test_a_rotation_that_cannot_be_stored_is_never_used(hq) -> None:
    from hq_sync.clients.hq import HqTokenStoreError

    sb, _ = hq
    store, clock = MemoryStore(_grant(sb)["refresh_token"], fail=True), Clock()
    client, _tokens = _oauth_client(sb, store, clock)
    before = len(sb.admin("hq").requests(path="^/v1/"))
    with pytest.raises(HqTokenStoreError, match="not used"):
        client.users()
    assert len(sb.admin("hq").requests(path="^/v1/")) == before  # no data request on an unstored rotation
    store.fail = False
    assert len(client.users()) == USERS and len(store.saved) == 1  # kept in memory, stored first now


def test_a_revoked_grant_names_the_command_with_the_tenant(hq) -> None:
    from hq_sync.clients.hq import HqAuthorizationRevoked

    sb, _ = hq
    store = MemoryStore(_grant(sb)["refresh_token"])
    client, _tokens = _oauth_client(sb, store, Clock())
    sb.admin("hq").post("/tenants/paging/oauth/revoke", {})
    with pytest.raises(HqAuthorizationRevoked, match="invalid_grant") as err:
        client.users()
    assert "python -m hq_sync.connect.hq --tenant paging " in str(err.value)


# -- errors, writes and retries against the sandbox (issue #13) ----------------------------------------
WRITES_TOKEN = "hq-writes-sync"


@pytest.fixture
def hq_project(fresh_sandboxes: SandboxServers) -> tuple[SandboxServers, HqClient, int]:
    from hq_sync.clients.http import RetryPolicy

    url = fresh_sandboxes.url("hq")
    seed_tenant(url, "writes", {
        "sync_token": WRITES_TOKEN,
        "users": [{"name": "Bob Meier", "email": "bob@writes.example"}],
        "companies": [{"name": "Kunde GmbH"}],
        "project_templates": [{"name": "Kundenprojekt"}],
        "projects": [{"name": "Relaunch", "company": "Kunde GmbH", "start": "2026-01-01",
                      "phases": [{"name": "Konzeption", "sync_id": "AWORK-LIST:ABC"}]}],
    })
    client = HqClient(url + "/v1", WRITES_TOKEN, retry=RetryPolicy(attempts=3, base_delay=0.002, max_delay=0.05, timeout=(1.0, 5.0)))
    project_id = int(client.projects()[0]["Id"])
    fresh_sandboxes.admin("hq").clear_requests()
    return fresh_sandboxes, client, project_id


def test_a_refused_static_token_fails_at_once_and_is_never_shown(hq_project) -> None:
    from hq_sync.clients.http import AuthError

    sb, good, _ = hq_project
    client = HqClient(good.base_url, "not-the-token", retry=good.retry)
    with pytest.raises(AuthError, match=r"^hq GET /v1/Users -> 401") as err:
        client.users()
    assert len(sb.admin("hq").requests(path="^/v1/Users")) == 1  # a static token cannot be renewed: no retry
    assert "not-the-token" not in str(err.value) + repr(client) + repr(client.auth)


def test_a_create_whose_answer_is_lost_is_ambiguous_and_happened_once(hq_project) -> None:
    from hq_sync.clients.http import AmbiguousWriteError

    sb, client, project_id = hq_project
    sb.admin("hq").add_fault(path="^/v1/ProjectTasks$", method="POST", mode="lose_answer", count=1)
    with pytest.raises(AmbiguousWriteError, match="POST /v1/ProjectTasks.*may or may not have happened"):
        client.create_project_task({"ProjectId": project_id, "Name": "Design", "SyncId": "AWORK-TASK:1"})
    assert len(sb.admin("hq").requests(path="^/v1/ProjectTasks$")) == 1  # not repeated blindly
    assert [t["Name"] for t in client.project_tasks_by_sync_id(project_id, "awork-task:1")] == ["Design"]  # it did happen


def test_a_create_that_hq_refused_with_a_5xx_is_ambiguous_too(hq_project) -> None:
    from hq_sync.clients.http import AmbiguousWriteError

    sb, client, project_id = hq_project
    sb.admin("hq").add_fault(path="^/v1/ProjectTasks$", method="POST", mode="503", count=1)
    with pytest.raises(AmbiguousWriteError) as err:
        client.create_project_task({"ProjectId": project_id, "Name": "Design", "SyncId": "AWORK-TASK:2"})
    assert err.value.status == 503
    assert client.project_tasks_by_sync_id(project_id, "AWORK-TASK:2") == []  # the caller looks up, then decides


def test_an_update_is_retried_after_a_5xx_and_keeps_the_fields_it_does_not_change(hq_project) -> None:
    sb, client, project_id = hq_project
    phase = client.project_tasks_by_sync_id(project_id, "AWORK-LIST:ABC")[0]
    sb.admin("hq").add_fault(path=r"^/v1/ProjectTasks\(", method="PUT", mode="503", count=1)
    sb.admin("hq").add_fault(path=r"^/v1/ProjectTasks\(", method="PUT", mode="drop", count=1)
    client.update_project_task(phase, {"PlannedEffort": 12.5})
    puts = [r for r in sb.admin("hq").requests(path=r"^/v1/ProjectTasks\(") if r["method"] == "PUT"]
    assert [r["fault"] for r in puts] == ["503", "drop", None] and puts[-1]["status"] == 200
    after = client.get(f"ProjectTasks({phase['Id']})")
    assert after["PlannedEffort"] == 12.5 and after["Name"] == "Konzeption" and after["SyncId"] == "AWORK-LIST:ABC"


def test_a_delete_is_idempotent_and_a_missing_entity_reads_as_none(hq_project) -> None:
    _, client, project_id = hq_project
    task = client.create_project_task({"ProjectId": project_id, "Name": "Weg damit"})
    assert client.delete(f"ProjectTasks({task['Id']})") is True
    assert client.delete(f"ProjectTasks({task['Id']})") is False  # already gone: a retried delete is fine
    assert client.get(f"ProjectTasks({task['Id']})") is None


def test_an_empty_collection_is_one_request_and_no_pages(hq_project) -> None:
    sb, client, _ = hq_project
    assert list(client.pages("Quotations")) == []
    assert len(sb.admin("hq").requests(path="^/v1/Quotations")) == 1


# -- the exact OData queries, against the scripted loopback server -------------------------------------
@pytest.fixture
def loop():
    from .loopback import ScriptedServer

    with ScriptedServer() as srv:
        yield srv


def _odata(values: list[int], **extra: object) -> object:
    from .loopback import Reply

    return Reply(200, {"value": [{"Id": v} for v in values], **extra})


def _queries(server) -> list[dict[str, list[str]]]:
    return [s.query for s in server.requests("GET", "^/v1/Users$")]


def test_a_next_link_is_followed_verbatim(loop) -> None:
    loop.on("GET", "^/v1/Users$", _odata([1, 2], **{"@odata.nextLink": loop.url + "/v1/Users?$skiptoken=2&$top=2"}),
            _odata([3], **{"@odata.nextLink": "Users?$skiptoken=3"}), _odata([]))  # relative to the service root
    client = HqClient(loop.url + "/v1", TOKEN, page_size=2)
    assert [[u["Id"] for u in page] for page in client.pages("Users", filter="IsActive eq true")] == [[1, 2], [3]]
    first, second, third = _queries(loop)
    assert first == {"$top": ["2"], "$count": ["true"], "$filter": ["IsActive eq true"], "$orderby": ["Id"]}
    assert second == {"$skiptoken": ["2"], "$top": ["2"]} and third == {"$skiptoken": ["3"]}  # nothing added


def test_a_host_relative_next_link_is_resolved_against_the_host(loop) -> None:
    loop.on("GET", "^/v1/Users$", _odata([1, 2], **{"@odata.nextLink": "/v1/Users?$skiptoken=2"}), _odata([3]), _odata([]))
    client = HqClient(loop.url + "/v1", TOKEN, page_size=2)
    assert [u["Id"] for u in client.all("Users")] == [1, 2, 3]


def test_without_a_next_link_skip_advances_by_what_was_read_until_the_count(loop) -> None:
    loop.on("GET", "^/v1/Users$", _odata([1, 2, 3], **{"@odata.count": 5}), _odata([4, 5], **{"@odata.count": 5}))
    client = HqClient(loop.url + "/v1", TOKEN, page_size=3)
    assert [u["Id"] for u in client.all("Users", select="Id", filter="Id gt 0")] == [1, 2, 3, 4, 5]
    queries = _queries(loop)
    assert len(queries) == 2  # the count was reached: no third request
    assert "$skip" not in queries[0] and queries[1]["$skip"] == ["3"]
    assert all(q["$filter"] == ["Id gt 0"] and q["$select"] == ["Id"] and q["$top"] == ["3"] for q in queries)


def test_a_short_page_is_never_taken_for_the_last_one(loop) -> None:
    # The server pages by 2 whatever $top says, and reports no count: read on until a page is empty.
    loop.on("GET", "^/v1/Users$", _odata([1, 2]), _odata([3, 4]), _odata([5]), _odata([]))
    client = HqClient(loop.url + "/v1", TOKEN, page_size=10)
    assert [u["Id"] for u in client.all("Users")] == [1, 2, 3, 4, 5]
    assert [q.get("$skip") for q in _queries(loop)] == [None, ["2"], ["4"], ["5"]]


def test_a_server_that_ignores_skip_is_not_read_for_ever(loop) -> None:
    from hq_sync.clients.http import ApiError

    loop.on("GET", "^/v1/Users$", *[_odata([1, 2]) for _ in range(20)], _odata([]))
    client = HqClient(loop.url + "/v1", TOKEN, page_size=2)
    with pytest.raises(ApiError, match=r"ignores \$skip"):
        client.all("Users")
    assert len(_queries(loop)) == 2  # noticed on the second page, not after reading on


def test_the_page_size_is_capped_at_hqs_limit(loop) -> None:
    client = HqClient(loop.url + "/v1", TOKEN, page_size=5000)
    loop.on("GET", "^/v1/Users$", _odata([]))
    client.all("Users")
    assert client.page_size == 1000 and _queries(loop)[0]["$top"] == ["1000"]


def test_a_page_read_that_fails_transiently_is_retried_where_it_stopped(loop) -> None:
    from hq_sync.clients.http import RetryPolicy

    from .loopback import Close

    loop.on("GET", "^/v1/Users$", _odata([1, 2], **{"@odata.count": 4}), Close(), _odata([3, 4], **{"@odata.count": 4}))
    client = HqClient(loop.url + "/v1", TOKEN, page_size=2, retry=RetryPolicy(attempts=3, base_delay=0.002, max_delay=0.01))
    assert [u["Id"] for u in client.all("Users")] == [1, 2, 3, 4]
    assert [q.get("$skip") for q in _queries(loop)] == [None, ["2"], ["2"]]


# -- pure helpers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("O'Brien", "'O''Brien'"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (1.5, "1.5"),
        (__import__("datetime").datetime(2026, 3, 1, 8, 0, tzinfo=__import__("datetime").UTC), "2026-03-01T08:00:00Z"),
        (__import__("datetime").date(2026, 3, 1), "2026-03-01"),
    ],
)
def test_odata_literals(value, literal) -> None:
    from hq_sync.clients.hq import odata_literal

    assert odata_literal(value) == literal


def test_names_are_the_same_in_any_case_and_around_blanks() -> None:
    from hq_sync.clients.hq import same_name

    assert same_name("awork Link", " AWORK LINK ") and same_name("Straße", "STRASSE")
    assert not same_name("awork Link", "awork Links") and not same_name(None, None) and not same_name("x", None)


def test_the_token_endpoint_sits_next_to_the_api() -> None:
    from hq_sync.clients.hq import hq_root, hq_token_url

    assert hq_root("https://api.hellohq.io/v1/") == "https://api.hellohq.io"
    assert hq_token_url("http://127.0.0.1:8302/v1") == "http://127.0.0.1:8302/Token"
    assert hq_token_url("http://127.0.0.1:8302") == "http://127.0.0.1:8302/Token"


def test_reportings_round_trip_and_billing_is_read_from_invoices(fresh_sandboxes) -> None:
    url = fresh_sandboxes.url("hq")
    seed_tenant(url, "booked", {
        "sync_token": "hq-booked-sync",
        "users": [{"name": "Bob Meier", "email": "bob@booked.example"}],
        "companies": [{"name": "Kunde GmbH"}],
        "project_templates": [{"name": "Kundenprojekt"}],
        "projects": [{"name": "Relaunch", "company": "Kunde GmbH", "start": "2026-01-01"}],
        "reportings": [
            {"email": "bob@booked.example", "project": "Relaunch", "start": "2026-03-02T09:00:00", "hours": 2, "note": "billed",
             "billed": True},
            {"email": "bob@booked.example", "project": "Relaunch", "start": "2026-03-03T09:00:00", "hours": 1, "note": "open",
             "billed": False},
        ],
    })
    client = HqClient(url + "/v1", "hq-booked-sync")
    user_id = int(client.users()[0]["Id"])
    project_id = int(client.projects()[0]["Id"])
    created = client.create_reporting(project_id, {"UserId": user_id, "StartDate": "2026-03-04T10:00:00", "Duration": 1800,
                                                   "Description": "from awork"})
    mine = {r["Id"]: r for r in client.user_reportings(user_id)}
    assert len(mine) == 3 and mine[created["Id"]]["Duration"] == 1800
    assert {r["Id"] for r in client.project_reportings(project_id)} == set(mine)
    billed = {r["Id"] for r in mine.values() if r["Note"] == "billed"}
    assert len(billed) == 1 and client.billed_reporting_ids() == billed

    updated = client.update_reporting(mine[created["Id"]], {"Duration": 3600})
    assert updated["Duration"] == 3600 and updated["Note"] == "from awork"  # PUT replaces: the rest was sent as read
    assert client.delete_reporting(user_id, created["Id"]) is True
    assert client.delete_reporting(user_id, created["Id"]) is False and client.reporting(user_id, created["Id"]) is None


def test_a_users_absences_in_a_window(fresh_sandboxes) -> None:
    from datetime import date

    url = fresh_sandboxes.url("hq")
    seed_tenant(url, "away", {"sync_token": "hq-away-sync", "users": [{"name": "Bob Meier", "email": "bob@away.example"}]})
    client = HqClient(url + "/v1", "hq-away-sync")
    user_id = client.users()[0]["Id"]
    # End is exclusive in HQ (one day is D to D+1)
    for start, end in (("2026-06-01", "2026-06-06"), ("2026-07-01", "2026-07-04"), ("2026-09-01", "2026-09-02")):
        created = client.create_absence(user_id, {"Type": "Vacation", "Start": f"{start}T00:00:00", "End": f"{end}T00:00:00",
                                                  "IsApproved": True})
        assert created["UserId"] == user_id
    assert len(client.absences(user_id)) == 3
    july = client.absences(user_id, start=date(2026, 6, 20), end=date(2026, 8, 1))
    assert [a["Start"][:10] for a in july] == ["2026-07-01"]
    assert client.delete_absence(user_id, july[0]["Id"]) is True and len(client.absences(user_id)) == 2
