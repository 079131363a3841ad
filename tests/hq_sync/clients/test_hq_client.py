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
