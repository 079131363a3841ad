"""The awork API v1 client against the awork sandbox (real HTTP): auth (API key, rotating OAuth,
PKCE), paging, incremental and windowed time entries, writes, 429s and the request budget.

Every test gets emptied sandboxes and a tenant "acme" (API key, two users, an OAuth client, no
workspace rate limit unless the test sets one). Waiting is done on a fake clock: the client's
``sleep`` advances it, so back-offs of a minute take no time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hq_sync.clients.awork import (
    AworkAuthorizationRevoked,
    AworkClient,
    AworkOAuthTokens,
    AworkTokenStoreError,
    RequestBudget,
    all_of,
    authorization_request,
    code_from_redirect,
    datetime_literal,
    exchange_authorization_code,
    guid_literal,
    string_literal,
    token_url_for,
    user_email,
)
from hq_sync.clients.http import AmbiguousWriteError, AuthError, RetryPolicy
from sandboxes.testing import SandboxServers

TENANT = "acme"
API_KEY = "acme-awork-key"
CLIENT_ID = "hqsync-acme"
CLIENT_SECRET = "s3cret-client"
REDIRECT = "https://hq.example/oauth/awork/callback"
REAUTHORISE = "Re-authorise the tenant's awork connection"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=30.0, timeout=(2.0, 10.0))


class FakeClock:
    """``now()`` for the client's clock, ``sleep()`` advances it and records the wait."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MemoryStore:
    """A TokenStore in memory that records when it saved (into a shared event list)."""

    def __init__(self, token: str | None = None, events: list[str] | None = None) -> None:
        self.token = token
        self.saved: list[str] = []
        self.events = events if events is not None else []

    def load(self) -> str | None:
        return self.token

    def save(self, refresh_token: str) -> None:
        self.events.append("save")
        self.token = refresh_token
        self.saved.append(refresh_token)


class BrokenStore(MemoryStore):
    broken = True

    def save(self, refresh_token: str) -> None:
        if not self.broken:
            return super().save(refresh_token)
        self.events.append("save failed")
        raise OSError("disk full")


@dataclass
class Awork:
    servers: SandboxServers
    api: str  # .../api/v1
    clock: FakeClock

    @property
    def admin(self) -> Any:
        return self.servers.admin("awork")

    def raw(self, method: str, path: str, body: Any = None, token: str = API_KEY) -> Any:
        resp = requests.request(method, self.api + path, json=body, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code < 300, f"{method} {path} -> {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None

    def client(self, auth: Any = API_KEY, **kw: Any) -> AworkClient:
        kw.setdefault("retry", FAST_RETRY)
        return AworkClient(self.api, auth, clock=self.clock, sleep=self.clock.sleep, **kw)

    def user_id(self, email: str) -> str:
        return next(u["id"] for u in self.admin.get(f"/tenants/{TENANT}/users")["users"] if u["email"] == email)

    def requests_to(self, path_regex: str) -> list[dict[str, Any]]:
        return self.admin.requests(path=path_regex)

    # -- data ------------------------------------------------------------------------------------
    def type_of_work(self, name: str = "Konzeption") -> dict[str, Any]:
        return dict(self.raw("POST", "/typeofwork", {"name": name}))

    def entry_body(self, user_id: str, type_id: str, day: str = "2026-03-02", **extra: Any) -> dict[str, Any]:
        return {"timezone": "Europe/Berlin", "userId": user_id, "typeOfWorkId": type_id,
                "startDateUtc": f"{day}T00:00:00Z", "startTimeUtc": "08:00:00", "duration": 1800, **extra}

    def entries(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create time entries over a few connections (order of creation not guaranteed)."""
        local = threading.local()

        def create(body: dict[str, Any]) -> dict[str, Any]:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            resp = session.post(self.api + "/timeentries", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {API_KEY}"})
            assert resp.status_code == 200, resp.text
            return dict(resp.json())

        if len(bodies) < 20:
            return [create(b) for b in bodies]
        with ThreadPoolExecutor(6) as pool:
            return list(pool.map(create, bodies))


@pytest.fixture
def aw(fresh_sandboxes: SandboxServers) -> Awork:
    fresh_sandboxes.admin("awork").post("/tenants", {
        "tenant": TENANT,
        "api_keys": [{"key": API_KEY, "name": "hq-sync"}],
        "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT]}],
        "users": [
            {"first_name": "Anna", "last_name": "Admin", "email": "anna@acme.de", "admin": True},
            {"first_name": "Ben", "last_name": "Berater", "email": "ben@acme.de"},
        ],
        "settings": {"rate_limit_per_minute": None, "rate_limit_per_second": None},
    })
    return Awork(fresh_sandboxes, fresh_sandboxes.url("awork") + "/api/v1", FakeClock())


def flatten(pages: Iterator[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page]


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


# -- pure helpers ---------------------------------------------------------------------------------
def test_filter_literals_follow_awork_syntax() -> None:
    berlin_noon = datetime(2026, 8, 1, 14, 0, 5, 987654, tzinfo=UTC).astimezone()
    assert datetime_literal(berlin_noon) == "datetime'2026-08-01T14:00:05'"  # UTC, whole seconds
    assert datetime_literal(date(2026, 3, 2)) == "datetime'2026-03-02T00:00:00'"
    with pytest.raises(ValueError, match="timezone-aware"):
        datetime_literal(datetime(2026, 8, 1, 12, 0))
    assert guid_literal("{0F5F3318-AAAA-BBBB-CCCC-DDDDEEEEFFFF}") == "guid'0f5f3318-aaaa-bbbb-cccc-ddddeeeeffff'"
    with pytest.raises(ValueError, match="not a GUID"):
        guid_literal("0f5f3318")
    assert string_literal("Bob's Agentur") == "'Bob''s Agentur'"
    assert all_of(None, "a eq 1", "", "b eq 2 or c eq 3") == "(a eq 1) and (b eq 2 or c eq 3)"
    assert all_of("a eq 1", None) == "a eq 1"
    assert all_of() is None


def test_user_email_picks_the_email_contact_info() -> None:
    def info(type_: str, value: str, sub: str | None = "work") -> dict[str, Any]:
        return {"type": type_, "subType": sub, "value": value}

    assert user_email({"userContactInfos": []}) is None  # API users
    assert user_email({"firstName": "X"}) is None
    assert user_email({"userContactInfos": [info("phone", "+49 30 1"), info("email", " Carla@NCNSTN.com ")]}) == "Carla@NCNSTN.com"
    several = [info("email", "carla@home.de", "private"), info("email", "c@other.de", "other"),
               info("email", "carla@ncnstn.com", "work"), info("email", "second@ncnstn.com", "work")]
    assert user_email({"userContactInfos": several}) == "carla@ncnstn.com"
    assert user_email({"userContactInfos": several[:2]}) == "c@other.de"
    assert user_email({"userContactInfos": [info("Email", "not-an-address"), info("EMAIL", "x@y.de", None)]}) == "x@y.de"


# -- API key, users, paging ------------------------------------------------------------------------
def test_api_key_users_and_their_emails(aw: Awork) -> None:
    client = aw.client()
    me = client.me()
    assert me["workspace"]["id"] and user_email(me) is None  # the key's API user
    users = flatten(client.users())
    emails = {u["lastName"]: user_email(u) for u in users}
    assert emails == {"Admin": "anna@acme.de", "Berater": "ben@acme.de", "API": None}
    anna = aw.user_id("anna@acme.de")
    assert user_email(client.user(anna) or {}) == "anna@acme.de"
    assert client.user("00000000-0000-0000-0000-000000000001") is None
    sent = aw.requests_to("^/api/v1/users$")
    assert parse_qs(sent[0]["query"])["orderby"] == ["createdOn asc"]  # stable order when paging


def test_rejected_api_key_fails_without_retrying(aw: Awork) -> None:
    with pytest.raises(AuthError) as err:
        aw.client("wrong-key").me()
    assert err.value.status == 401
    assert "wrong-key" not in str(err.value)
    assert len(aw.requests_to("^/api/v1/users/me$")) == 1


def test_2500_entries_come_in_three_pages_of_1000(aw: Awork) -> None:
    anna, ben = aw.user_id("anna@acme.de"), aw.user_id("ben@acme.de")
    tw = aw.type_of_work()
    project = aw.raw("POST", "/projects", {"name": "Website"})
    created = aw.entries(
        [aw.entry_body(anna, tw["id"], note=f"e{i}") for i in range(2300)]
        + [aw.entry_body(ben, tw["id"], projectId=project["id"]) for _ in range(200)]
        + [aw.entry_body(anna, tw["id"], day="2026-03-05") for _ in range(5)]  # outside the window
    )
    client = aw.client()
    aw.admin.clear_requests()

    pages = list(client.time_entries(between=(date(2026, 3, 1), date(2026, 3, 2))))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert len({e["id"] for p in pages for e in p}) == 2500
    log = aw.requests_to("^/api/v1/timeentries$")
    assert len(log) == 3
    queries = [parse_qs(r["query"]) for r in log]
    assert [(q["page"], q["pageSize"]) for q in queries] == [(["1"], ["1000"]), (["2"], ["1000"]), (["3"], ["1000"])]
    assert queries[0]["filterby"] == ["(startDateUtc ge datetime'2026-03-01T00:00:00') and "
                                      "(startDateUtc lt datetime'2026-03-03T00:00:00')"]

    in_project = flatten(client.time_entries(between=(date(2026, 3, 2), date(2026, 3, 2)), project_id=project["id"]))
    assert len(in_project) == 200 and {e["projectId"] for e in in_project} == {project["id"]}

    # Incremental read of everything: complete, each entry once, oldest change first.
    since = min(parse_ts(e["updatedOn"]) for e in created)
    changed = flatten(client.time_entries_updated_since(since))
    assert sorted(e["id"] for e in changed) == sorted(e["id"] for e in created)
    stamps = [e["updatedOn"] for e in changed]
    assert stamps == sorted(stamps)


def test_incremental_time_entries_by_updated_on(aw: Awork) -> None:
    anna, tw = aw.user_id("anna@acme.de"), aw.type_of_work()
    a, b = aw.entries([aw.entry_body(anna, tw["id"], note="a"), aw.entry_body(anna, tw["id"], note="b")])
    boundary = parse_ts(b["updatedOn"]) + timedelta(seconds=1)
    time.sleep(max(0.0, (boundary - datetime.now(UTC)).total_seconds()) + 0.05)
    (c,) = aw.entries([aw.entry_body(anna, tw["id"], note="c")])
    a2 = aw.raw("PUT", f"/timeentries/{a['id']}", aw.entry_body(anna, tw["id"], note="a, corrected"))
    assert parse_ts(c["updatedOn"]) >= boundary

    client = aw.client()
    aw.admin.clear_requests()
    changed = flatten(client.time_entries_updated_since(boundary))
    assert [(e["id"], e["note"]) for e in changed] == [(c["id"], "c"), (a2["id"], "a, corrected")]
    (sent,) = aw.requests_to("^/api/v1/timeentries$")
    query = parse_qs(sent["query"])
    assert query["filterby"] == [f"updatedOn ge datetime'{boundary:%Y-%m-%dT%H:%M:%S}'"]
    assert query["orderby"] == ["updatedOn asc,id asc"]
    # A caller's own filter is combined with the cursor.
    mine = flatten(client.time_entries_updated_since(boundary, filterby=f"note eq {string_literal('c')}"))
    assert [e["id"] for e in mine] == [c["id"]]


def test_incremental_paging_does_not_lose_entries_changed_while_paging(aw: Awork) -> None:
    """Offset paging would skip one entry when an already-read one moves to the end."""
    anna, tw = aw.user_id("anna@acme.de"), aw.type_of_work()
    created = aw.entries([aw.entry_body(anna, tw["id"], note=f"n{i}") for i in range(12)])
    since = min(parse_ts(e["updatedOn"]) for e in created) - timedelta(minutes=1)
    client = aw.client()

    seen: list[tuple[str, str]] = []
    for number, page in enumerate(client.time_entries_updated_since(since, page_size=5)):
        seen += [(e["id"], e["note"]) for e in page]
        if number == 0:  # someone edits an entry we already have
            aw.raw("PUT", f"/timeentries/{page[0]['id']}", aw.entry_body(anna, tw["id"], note="edited"))
            edited = page[0]["id"]
    assert {i for i, _ in seen} == {e["id"] for e in created}
    assert seen[-1] == (edited, "edited")
    assert len(seen) == 13  # the edited one twice, older version first


def test_deleted_time_entry_reads_as_none(aw: Awork) -> None:
    anna, tw = aw.user_id("anna@acme.de"), aw.type_of_work()
    keep, gone = aw.entries([aw.entry_body(anna, tw["id"]), aw.entry_body(anna, tw["id"])])
    aw.raw("DELETE", f"/timeentries/{gone['id']}")
    client = aw.client()
    assert client.time_entry(gone["id"]) is None
    assert (client.time_entry(keep["id"]) or {})["id"] == keep["id"]


# -- master data and HQ -> awork writes ------------------------------------------------------------
def test_master_data_lists(aw: Awork) -> None:
    for name in ("Konzeption", "Design", "Beratung"):
        aw.type_of_work(name)
    archived = aw.type_of_work("Alt")
    aw.raw("POST", f"/typeofwork/{archived['id']}/setarchived", {"isArchived": True})
    acme = aw.raw("POST", "/companies", {"name": "Acme GmbH"})
    aw.raw("POST", "/companies", {"name": "Bob's Shop"})
    client = aw.client()

    pages = list(client.types_of_work(page_size=2))
    assert [[t["name"] for t in p] for p in pages] == [["Konzeption", "Design"], ["Beratung"]]
    assert len(flatten(client.types_of_work(show_archived=True))) == 4
    shop = flatten(client.companies(filterby=f"name eq {string_literal(chr(66) + 'ob' + chr(39) + 's Shop')}"))
    assert [c["name"] for c in shop] == ["Bob's Shop"]
    assert (client.company(acme["id"]) or {})["name"] == "Acme GmbH"
    assert [c["name"] for c in flatten(client.companies(orderby="name desc"))] == ["Bob's Shop", "Acme GmbH"]


def test_projects_task_lists_and_tasks_for_hq_to_awork(aw: Awork) -> None:
    tw = aw.type_of_work("Design")
    company = aw.raw("POST", "/companies", {"name": "Acme GmbH"})
    client = aw.client()

    project = client.create_project({"name": "Website", "projectKey": "web", "companyId": company["id"]})
    assert project["projectKey"] == "WEB"
    assert (client.project_by_key("WEB") or {})["id"] == project["id"]
    renamed = client.update_project(project["id"], {"name": "Website Relaunch", "companyId": company["id"]})
    assert renamed["name"] == "Website Relaunch"
    assert [p["name"] for p in flatten(client.projects(filterby=f"companyId eq {guid_literal(company['id'])}"))] == ["Website Relaunch"]

    concept = client.create_task_list(project["id"], {"name": "Konzeption"})
    review = client.create_task_list(project["id"], {"name": "Review"})
    client.update_task_list(project["id"], concept["id"], {"name": "Konzeption [5,4d]"})
    assert [tl["name"] for tl in flatten(client.task_lists(project["id"]))] == ["Konzeption [5,4d]", "Review"]
    assert (client.task_list(project["id"], review["id"]) or {})["name"] == "Review"

    task = client.create_task({"baseType": "projecttask", "entityId": project["id"], "name": "Sitemap",
                               "typeOfWorkId": tw["id"], "plannedDuration": 3600,
                               "lists": [{"id": concept["id"], "order": 1}]})
    added = client.add_tasks_to_list(project["id"], review["id"], [task["id"]])
    assert [a["id"] for a in added] == [task["id"]]
    client.add_tasks_to_list(project["id"], review["id"], [{"taskId": task["id"], "order": 5}])  # harmless again
    client.update_task(task["id"], {"name": "Sitemap v2", "plannedDuration": 7200})
    (listed,) = flatten(client.project_tasks(project["id"]))
    assert listed["name"] == "Sitemap v2" and listed["plannedDuration"] == 7200
    assert {tl["id"] for tl in listed["lists"]} == {concept["id"], review["id"]}

    assert client.delete_task_list(project["id"], review["id"]) is True
    assert client.delete_task_list(project["id"], review["id"]) is False  # already gone
    assert client.delete_tasks([task["id"]]) is None
    assert client.task(task["id"]) is None
    assert client.delete_project(project["id"]) is True
    assert client.project(project["id"]) is None
    assert client.delete_project(project["id"]) is False


def test_a_create_whose_answer_is_lost_is_ambiguous(aw: Awork) -> None:
    client = aw.client()
    aw.admin.add_fault(path="^/api/v1/projects$", method="POST", mode="lose_answer", count=1)
    with pytest.raises(AmbiguousWriteError):
        client.create_project({"name": "Intranet", "projectKey": "INT"})
    assert (client.project_by_key("INT") or {})["name"] == "Intranet"  # the caller looks it up
    assert len(aw.requests_to("^/api/v1/projects$")) == 1  # never re-sent


# -- OAuth ---------------------------------------------------------------------------------------
def connect(aw: Awork, store: MemoryStore) -> Any:
    """The connect command's flow: authorise (the sandbox consents as the first admin), take the
    code from the redirect, exchange it with the PKCE verifier; the refresh token lands in store."""
    request = authorization_request(CLIENT_ID, REDIRECT, api_url=aw.api)
    assert "code_challenge_method=S256" in request.url and request.code_verifier not in request.url
    resp = requests.get(request.url, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    code = code_from_redirect(resp.headers["location"], request)
    return exchange_authorization_code(CLIENT_ID, CLIENT_SECRET, code, request, store,
                                       token_url=token_url_for(aw.api))


def oauth(aw: Awork, store: MemoryStore, **kw: Any) -> AworkOAuthTokens:
    return AworkOAuthTokens(CLIENT_ID, CLIENT_SECRET, token_url_for(aw.api), store, clock=aw.clock,
                            sleep=aw.clock.sleep, retry=FAST_RETRY, **kw)


def test_pkce_authorization_code_exchange(aw: Awork) -> None:
    store = MemoryStore()
    grant = connect(aw, store)
    assert store.saved == [grant.refresh_token]
    assert "s3cret" not in repr(grant) and grant.access_token not in repr(grant)
    client = aw.client(oauth(aw, store, grant=grant))
    assert user_email(client.me()) == "anna@acme.de"  # acts as the consenting user
    assert len(aw.requests_to("/accounts/token")) == 1  # the exchange's access token was used

    request = authorization_request(CLIENT_ID, REDIRECT, api_url=aw.api)
    location = requests.get(request.url, allow_redirects=False, timeout=10).headers["location"]
    with pytest.raises(AuthError, match="state"):
        code_from_redirect(location.replace(request.state, "forged"), request)
    code = code_from_redirect(location, request)
    forged = authorization_request(CLIENT_ID, REDIRECT, api_url=aw.api, state=request.state)  # other verifier
    with pytest.raises(AuthError, match="authorization code"):
        exchange_authorization_code(CLIENT_ID, CLIENT_SECRET, code, forged, MemoryStore(),
                                    token_url=token_url_for(aw.api))


def test_refresh_token_rotation_saves_before_use(aw: Awork) -> None:
    events: list[str] = []
    store = MemoryStore(events=events)
    first = connect(aw, store)
    old_refresh = store.token
    events.clear()

    token_session, api_session = requests.Session(), requests.Session()
    token_session.hooks["response"].append(lambda r, *a, **k: events.append("token endpoint"))
    api_session.hooks["response"].append(lambda r, *a, **k: events.append(f"GET {urlsplit(r.url).path}"))
    client = aw.client(oauth(aw, store, session=token_session), session=api_session)

    assert client.me()["id"]
    assert events == ["token endpoint", "save", "GET /api/v1/users/me"]
    assert store.token not in (None, old_refresh, first.refresh_token)
    client.me()  # the access token is cached
    assert events[-1] == "GET /api/v1/users/me" and events.count("token endpoint") == 1

    # The used refresh token is dead: awork rotated it.
    resp = requests.post(token_url_for(aw.api), timeout=10, auth=(CLIENT_ID, CLIENT_SECRET),
                         data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_grant"
    assert "already been redeemed" in resp.json()["description"]

    # Shortly before expiry the token is renewed (and rotated) again.
    aw.clock.now += 86400 - 200
    client.me()
    assert events.count("token endpoint") == 2 and len(store.saved) == 3


def test_a_failing_token_store_means_the_new_access_token_is_never_used(aw: Awork) -> None:
    store = MemoryStore()
    connect(aw, store)
    broken = BrokenStore(store.token)
    client = aw.client(oauth(aw, broken))
    aw.admin.clear_requests()
    with pytest.raises(AworkTokenStoreError, match="not used") as err:
        client.me()
    assert isinstance(err.value.__cause__, OSError)
    assert broken.events == ["save failed"]
    assert len(aw.requests_to("/accounts/token")) == 1
    assert aw.requests_to("^/api/v1/(?!accounts)") == []  # no data request at all
    with pytest.raises(AworkTokenStoreError):  # and still none on the next call
        client.me()
    assert aw.requests_to("^/api/v1/(?!accounts)") == []
    assert len(aw.requests_to("/accounts/token")) == 1  # the pending grant is not redeemed again

    broken.broken = False  # the store recovers: the pending refresh token is saved, then used
    assert client.me()["id"]
    assert broken.events == ["save failed", "save failed", "save"]
    assert len(aw.requests_to("/accounts/token")) == 1
    assert len(aw.requests_to("^/api/v1/users/me$")) == 1


def test_revoked_grant_asks_to_reauthorise(aw: Awork) -> None:
    store = MemoryStore()
    client = aw.client(oauth(aw, store, grant=connect(aw, store)))
    client.me()
    aw.admin.post(f"/tenants/{TENANT}/oauth/revoke", {})
    with pytest.raises(AworkAuthorizationRevoked) as err:
        client.me()
    assert isinstance(err.value, AuthError)
    assert REAUTHORISE in str(err.value) and "invalid_grant" in str(err.value)
    assert store.token not in str(err.value)
    statuses = [r["status"] for r in aw.requests_to("^/api/v1/users/me$")]
    assert statuses == [200, 401]  # one 401, then the refresh was refused: no further tries

    with pytest.raises(AworkAuthorizationRevoked, match=REAUTHORISE):
        aw.client(oauth(aw, MemoryStore())).me()  # never authorised


def test_expired_access_token_is_refreshed_after_a_401(aw: Awork) -> None:
    store = MemoryStore()
    client = aw.client(oauth(aw, store, grant=connect(aw, store)))
    client.me()
    aw.admin.post(f"/tenants/{TENANT}/oauth/expire", {})
    assert client.me()["id"]
    assert [r["status"] for r in aw.requests_to("^/api/v1/users/me$")] == [200, 401, 200]
    assert len(store.saved) == 2


def test_a_refresh_token_rotated_by_another_worker_is_picked_up(aw: Awork) -> None:
    store = MemoryStore()
    connect(aw, store)
    stale = store.token

    class StaleOnce(MemoryStore):  # read before the other worker saved its rotation
        def __init__(self) -> None:
            super().__init__()
            self.first = True

        def load(self) -> str | None:
            if self.first:
                self.first = False
                return stale
            return store.load()

        def save(self, refresh_token: str) -> None:
            store.save(refresh_token)

    aw.client(oauth(aw, store)).me()  # worker A rotates
    aw.client(oauth(aw, StaleOnce())).me()  # worker B used the old one, then the stored one
    assert len(store.saved) == 3
    assert [r["status"] for r in aw.requests_to("/accounts/token")] == [200, 200, 400, 200]


# -- rate limits -----------------------------------------------------------------------------------
def test_429_is_retried_after_ratelimit_reset(aw: Awork) -> None:
    aw.raw("POST", "/projects", {"name": "Website"})
    client = aw.client()
    aw.admin.add_fault(path="^/api/v1/projects$", mode="429", count=2)
    assert [p["name"] for p in flatten(client.projects())] == ["Website"]
    log = aw.requests_to("^/api/v1/projects$")
    assert [(r["status"], r["fault"]) for r in log[-3:]] == [(429, "429"), (429, "429"), (200, None)]
    assert aw.clock.sleeps == [60.0, 60.0]  # ratelimit-reset of the sandbox's 429


def test_request_budget_keeps_under_the_configured_rate(aw: Awork) -> None:
    sent_at: list[float] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: sent_at.append(aw.clock.now))
    client = aw.client(requests_per_minute=5, requests_per_second=2, session=session)
    for _ in range(12):
        client.me()
    assert len(sent_at) == 12
    assert all(sent_at[i + 5] - sent_at[i] >= 60 for i in range(len(sent_at) - 5))
    assert all(sent_at[i + 2] - sent_at[i] >= 1 for i in range(len(sent_at) - 2))
    assert 120 <= sent_at[-1] - sent_at[0] < 121
    assert client.budget.waited == pytest.approx(sum(aw.clock.sleeps))
    assert all(r["status"] == 200 for r in aw.requests_to("^/api/v1/users/me$"))


def test_request_budget_defaults_and_sharing() -> None:
    clock = FakeClock()
    budget = RequestBudget(clock=clock, sleep=clock.sleep)
    assert (budget.per_minute, budget.per_second) == (300, 10)
    sent = []
    for _ in range(600):
        budget.acquire()
        sent.append(clock.now)
    assert all(sent[i + 300] - sent[i] >= 60 for i in range(300))
    assert all(sent[i + 10] - sent[i] >= 1 for i in range(590))
    assert sent[299] - sent[0] == pytest.approx(29)  # 10 per second ...
    assert sent[300] - sent[0] == pytest.approx(60)  # ... until the minute's 300 are spent
    with pytest.raises(ValueError):
        RequestBudget(per_minute=0)


def test_nearly_spent_workspace_limit_pauses_until_reset(aw: Awork) -> None:
    aw.admin.put(f"/tenants/{TENANT}/settings", {"rate_limit_per_minute": 20})
    client = aw.client(requests_per_minute=None, requests_per_second=None)
    for _ in range(40):
        client.me()
        if aw.clock.sleeps:
            break
    (pause,) = aw.clock.sleeps
    assert 1 <= pause <= 60  # until the workspace's minute starts over
    statuses = [r["status"] for r in aw.requests_to("^/api/v1/users/me$")]
    assert 429 not in statuses


# -- /timeentries that ignores filterby or orderby (issue #10) --------------------------------------
@pytest.mark.parametrize("position", ["honoured", "filter_ignored", "order_ignored", "ignored"])
def test_what_timeentries_honours_is_found_out_and_the_safe_read_loses_nothing(aw: Awork, position: str) -> None:
    from hq_sync.clients.awork import QueryIgnoredError, QuerySupport

    anna, tw = aw.user_id("anna@acme.de"), aw.type_of_work()
    web = aw.raw("POST", "/projects", {"name": "Web"})["id"]
    old = aw.entries([aw.entry_body(anna, tw["id"], note="old", day="2026-01-05")])
    time.sleep(1.05)
    since = datetime.now(UTC).replace(microsecond=0)
    created = aw.entries([aw.entry_body(anna, tw["id"], note=f"n{i}", projectId=web if i % 2 else None) for i in range(9)])
    # The first-created of them changes last: in creation order it comes first, yet is the newest.
    time.sleep(1.05)
    edited = aw.raw("PUT", f"/timeentries/{created[0]['id']}", aw.entry_body(anna, tw["id"], note="edited"))
    aw.admin.put(f"/tenants/{TENANT}/settings", {"time_entries_query": position})
    client = aw.client()

    support = client.time_entry_query_support()
    assert support is QuerySupport(position)
    wanted = {e["id"] for e in created}
    if support is not QuerySupport.HONOURED:  # trusting the keyset read would fail loudly, not silently
        with pytest.raises(QueryIgnoredError):
            flatten(client.time_entries_updated_since(since, page_size=4))
    got = flatten(client.time_entries_updated_since(since, support=support))
    assert {e["id"] for e in got} == wanted and old[0]["id"] not in {e["id"] for e in got}
    assert {e["note"] for e in got if e["id"] == edited["id"]} == {"edited"}
    # Windows per project are right whatever the server did with the filter.
    in_web = flatten(client.time_entries(between=(date(2026, 3, 2), date(2026, 3, 2)), project_id=web))
    assert sorted(e["id"] for e in in_web) == sorted(e["id"] for e in created if e.get("projectId") == web)


# -- awork's rate-limit headers, against the scripted loopback server (issue #13) ----------------------
@pytest.fixture
def loop():
    from .loopback import ScriptedServer

    with ScriptedServer() as srv:
        yield srv


def _loop_client(loop, clock: FakeClock) -> AworkClient:
    return AworkClient(loop.url + "/api/v1", API_KEY, requests_per_minute=None, requests_per_second=None, clock=clock,
                       sleep=clock.sleep, retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=30.0, timeout=(1.0, 5.0)))


@pytest.mark.parametrize(
    ("status", "headers", "low", "high"),
    [
        (429, {"ratelimit-reset": "12"}, 12.0, 12.0),  # awork's 429: wait for the window to start over
        (429, {"Retry-After": "3", "ratelimit-reset": "12"}, 3.0, 3.0),  # an explicit Retry-After wins
        (503, {"ratelimit-reset": "50"}, 0.25, 0.5),  # a 5xx's reset is the window's, not a hint: back-off
    ],
)
def test_a_retry_waits_as_awork_says(loop, status, headers, low, high) -> None:
    from .loopback import Reply

    loop.on("GET", "^/api/v1/users$", Reply(status, None, headers), Reply(200, []))
    clock = FakeClock()
    _loop_client(loop, clock).request("GET", "users")
    assert len(clock.sleeps) == 1 and low <= clock.sleeps[0] <= high
    assert len(loop.requests("GET", "^/api/v1/users$")) == 2


@pytest.mark.parametrize(("remaining", "reset", "wait"), [("1", "7", 7.0), ("5", "500", 61.0), ("6", "7", None)])
def test_a_nearly_spent_window_pauses_before_the_next_request(loop, remaining, reset, wait) -> None:
    from .loopback import Reply

    loop.on("GET", "^/api/v1/users$", Reply(200, [], {"ratelimit-limit": "100", "ratelimit-remaining": remaining,
                                                      "ratelimit-reset": reset}))
    clock = FakeClock()
    _loop_client(loop, clock).request("GET", "users")
    assert clock.sleeps == ([] if wait is None else [wait])  # 5 % of 100 are left to the others
