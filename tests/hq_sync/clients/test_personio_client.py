"""PersonioClient (``hq_sync.clients.personio``): cursor pages, the client-credentials token and
rate-limit pacing, against the Personio sandbox over HTTP, and against the scripted loopback
server where a test needs an answer the sandbox does not give (a 401 on a valid token, a token
endpoint that fails, exact rate-limit headers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import parse_qs

import pytest

from hq_sync.clients.http import AuthError, ClientError, RetryPolicy, TransientError
from hq_sync.clients.personio import PersonioClient, PersonioCredentials, format_datetime, format_local_day
from sandboxes.personio.seed import seed_tenant
from sandboxes.testing import SandboxServers

from .loopback import Reply, ScriptedServer, Sleeps

FAST = RetryPolicy(attempts=3, base_delay=0.002, max_delay=0.05, timeout=(0.5, 2.0))
CREDS = PersonioCredentials("pc-acme", "pc-secret", app_id="HQ_SYNC_TEST")
PERSONS = 23


# -- against the sandbox -------------------------------------------------------------------------------
@pytest.fixture
def personio(fresh_sandboxes: SandboxServers) -> tuple[SandboxServers, PersonioClient]:
    seed_tenant(fresh_sandboxes.url("personio"), "acme", {
        "client_id": CREDS.client_id,
        "client_secret": CREDS.client_secret,
        "persons": [{"email": f"p{i:02d}@acme.test", "first_name": "P", "last_name": f"{i:02d}"} for i in range(PERSONS)],
        "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"}],
        "absence_periods": [
            {"person": "p00@acme.test", "type": "Urlaub", "start": "2026-06-10", "end": "2026-06-12"},
            {"person": "p01@acme.test", "type": "Urlaub", "start": "2026-07-01", "end": "2026-07-03"},
            {"person": "p02@acme.test", "type": "Urlaub", "start": "2026-09-01", "end": "2026-09-01"},
        ],
    })
    fresh_sandboxes.admin("personio").clear_requests()
    # No shared token cache: each test's sandbox is fresh, and these tests count the requests.
    return fresh_sandboxes, PersonioClient(fresh_sandboxes.url("personio"), CREDS, retry=FAST, token_cache=None)


def _log(sb: SandboxServers, path: str) -> list[dict]:
    return sb.admin("personio").requests(path=path)


@pytest.mark.parametrize("links", ["absolute", "relative"])
def test_persons_come_in_cursor_pages_until_the_last(personio, links) -> None:
    sb, client = personio
    sb.admin("personio").put("/settings", {"pagination_links": links})
    pages = list(client.persons(limit=10))
    assert [len(p) for p in pages] == [10, 10, 3]
    assert sorted(p["email"] for page in pages for p in page) == [f"p{i:02d}@acme.test" for i in range(PERSONS)]
    reads = _log(sb, "^/v2/persons$")
    assert len(reads) == 3 and "cursor" in str(reads[1]["query"])  # the cursor carries the rest


def test_the_page_size_is_capped_at_personios_maximum(personio) -> None:
    sb, client = personio
    assert [len(p) for p in client.persons(limit=500)] == [PERSONS]  # 50 at most: one page
    assert "limit=50" in str(_log(sb, "^/v2/persons$")[0]["query"])


def test_one_token_serves_many_requests_and_carries_the_app_id(personio) -> None:
    sb, client = personio
    for _ in range(3):
        list(client.persons())
    list(client.absence_types())
    assert len(_log(sb, "^/v2/auth/token$")) == 1
    headers = sb.admin("personio").get("/tenants/acme/client-headers")
    assert headers["app_id"] == "HQ_SYNC_TEST" and headers["app_id_upper_snake_case"] is True


def test_an_invalidated_token_is_replaced_once_and_the_read_goes_on(personio) -> None:
    sb, client = personio
    list(client.persons())
    sb.admin("personio").post("/tenants/acme/invalidate-tokens", {})
    assert sum(len(p) for p in client.persons()) == PERSONS
    assert len(_log(sb, "^/v2/auth/token$")) == 2
    assert [r["status"] for r in _log(sb, "^/v2/persons$")][-2:] == [401, 200]


def test_wrong_credentials_say_which_connection_to_fix_and_read_nothing(personio) -> None:
    sb, _ = personio
    client = PersonioClient(sb.url("personio"), PersonioCredentials("pc-acme", "wrong"), retry=FAST)
    with pytest.raises(AuthError, match=r"Personio rejected the client credentials \(401: Invalid client credentials"
                                        r"\.\); check the client id and secret in the tenant's personio connection"):
        next(client.persons())
    assert len(_log(sb, "^/v2/auth/token$")) == 1  # not retried
    assert _log(sb, "^/v2/persons") == []


def test_persons_updated_since_sends_the_strict_filter_and_reads_only_what_changed(personio) -> None:
    sb, client = personio
    everyone = [p for page in client.persons() for p in page]
    sb.admin("personio").patch(f"/tenants/acme/persons/{everyone[3]['id']}", {"updated_at": "2099-01-01T00:00:00Z"})
    since = datetime(2098, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert [p["id"] for page in client.persons(updated_since=since) for p in page] == [everyone[3]["id"]]
    assert [p for page in client.persons(updated_since=datetime(2099, 1, 1, tzinfo=UTC)) for p in page] == []  # gt
    queries = [parse_qs(r["query"]) for r in _log(sb, "^/v2/persons$")][-2:]
    assert [q["updated_at.gt"] for q in queries] == [["2098-12-31T23:59:59Z"], ["2099-01-01T00:00:00Z"]]


def test_persons_a_server_did_not_filter_are_filtered_here(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"))
    server.on("GET", "^/v2/persons$", Reply(200, {"_data": [
        {"id": "1", "updated_at": "2026-03-01T12:00:00Z"},  # at the bound: gt excludes it
        {"id": "2", "updated_at": "2026-03-01T12:00:01.5Z"},
        {"id": "3", "updated_at": "2026-02-01T08:00:00Z"},
        {"id": "4"},  # no stamp: cannot be told apart, kept
    ], "_meta": {}}))
    client = PersonioClient(server.url, CREDS, retry=FAST)
    pages = list(client.persons(updated_since=datetime(2026, 3, 1, 12, 0, 0, 400000, tzinfo=UTC)))
    assert [p["id"] for page in pages for p in page] == ["2", "4"]
    assert server.requests("GET", "^/v2/persons$")[0].query["updated_at.gt"] == ["2026-03-01T12:00:00Z"]


def test_absence_periods_by_window_and_by_id(personio) -> None:
    sb, client = personio
    june_july = [p for page in client.absence_periods(overlapping=(date(2026, 6, 12), date(2026, 7, 1))) for p in page]
    assert len(june_july) == 2  # 10-12 June and 1-3 July touch the window; September does not
    assert client.absence_period(june_july[0]["id"])["id"] == june_july[0]["id"]
    assert client.absence_period("999999999") is None  # deleted or never there: 404 reads as None
    days = client.absence_period_breakdown(june_july[0]["id"])
    assert days is not None and len(days) >= 3
    assert client.absence_period_breakdown("999999999") is None


def test_updated_since_reads_only_what_changed(personio) -> None:
    _, client = personio
    everything = [p for page in client.absence_periods() for p in page]
    assert len(everything) == 3
    assert [p for page in client.absence_periods(updated_since=datetime(2099, 1, 1, tzinfo=UTC)) for p in page] == []
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client.absence_periods(updated_since=datetime(2026, 1, 1)))


def test_a_rate_limited_read_waits_as_the_headers_say_and_loses_nothing(personio) -> None:
    sb, _ = personio
    # A bucket of one token, refilled 10 times a second: every answer says it is empty.
    sb.admin("personio").put("/settings", {"rate_limits": {
        "enabled": True, "buckets": {"persons": {"replenish_rate": 10, "burst_capacity": 1}},
    }})
    sleeps = Sleeps(cap=0.1)  # 1/10 s refills the token; Personio's own 429 wait (at least 1 s) is recorded
    client = PersonioClient(sb.url("personio"), CREDS, retry=FAST, sleep=sleeps, token_cache=None)
    pages = list(client.persons(limit=5))
    assert sum(len(p) for p in pages) == PERSONS and len(pages) == 5
    assert set(sleeps.waits) <= {0.1, 1.0}
    assert sleeps.waits.count(0.1) >= 4  # each emptied bucket (x-ratelimit-remaining 0) paces the next request


# -- against the scripted loopback server --------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _token(value: str, expires_in: int = 86400) -> Reply:
    return Reply(200, {"access_token": value, "token_type": "Bearer", "expires_in": expires_in})


def _persons(server: ScriptedServer) -> list[str]:
    return [s.headers.get("Authorization", "") for s in server.requests("GET", "^/v2/persons$")]


def test_a_401_mints_one_new_token_and_retries(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"), _token("t2"))
    server.on("GET", "^/v2/persons$", Reply(401, {"error": "invalid_token"}), Reply(200, {"_data": [{"id": "1"}], "_meta": {}}))
    client = PersonioClient(server.url, CREDS, retry=FAST)
    assert list(client.persons()) == [[{"id": "1"}]]
    assert _persons(server) == ["Bearer t1", "Bearer t2"]
    form = server.requests("POST", "^/v2/auth/token$")[0].form()
    assert form == {"grant_type": ["client_credentials"], "client_id": ["pc-acme"], "client_secret": ["pc-secret"]}


def test_a_second_401_fails_the_read_with_the_servers_reason(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"), _token("t2"), _token("t3"))
    refused = Reply(401, {"error": "invalid_token", "error_description": "scope missing"})
    server.on("GET", "^/v2/persons$", refused, refused)  # a third try would succeed: there must be none
    client = PersonioClient(server.url, CREDS, retry=FAST)
    with pytest.raises(AuthError, match=r"^personio GET /v2/persons -> 401: .*scope missing.*refused again after re-authenticating"):
        next(client.persons())
    assert _persons(server) == ["Bearer t1", "Bearer t2"]  # one new token, one retry, no more


def test_a_failing_token_endpoint_is_retried_like_any_request(server) -> None:
    server.on("POST", "^/v2/auth/token$", Reply(503, None), Reply(429, None), _token("t1"))
    client = PersonioClient(server.url, CREDS, retry=FAST)
    assert list(client.absence_types()) == [[]]
    assert len(server.requests("POST", "^/v2/auth/token$")) == 3


def test_a_token_endpoint_that_stays_down_is_transient_not_a_credentials_problem(server) -> None:
    server.always("POST", "^/v2/auth/token$", Reply(502, None))
    client = PersonioClient(server.url, CREDS, retry=FAST)
    with pytest.raises(TransientError, match="personio POST /v2/auth/token -> 502 after 3 attempts"):
        next(client.persons())


def test_a_token_is_renewed_before_it_expires(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("short", expires_in=30), _token("long"))
    client = PersonioClient(server.url, CREDS, retry=FAST)
    for _ in range(3):
        next(client.persons())
    # 30 s is inside the 60 s renewal margin: renewed before the second request, then kept.
    assert _persons(server) == ["Bearer short", "Bearer long", "Bearer long"]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-replenish-rate": "0.25", "x-ratelimit-requested-tokens": "1"}, 4.0),
        ({"x-ratelimit-replenish-rate": "10", "x-ratelimit-requested-tokens": "1"}, 1.0),  # at least a second
        ({"x-ratelimit-replenish-rate": "1", "x-ratelimit-requested-tokens": "3"}, 3.0),
        ({"Retry-After": "2", "x-ratelimit-replenish-rate": "10"}, 2.0),  # an explicit answer wins
    ],
)
def test_a_429_waits_as_personios_rate_limit_headers_say(server, headers, wait) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"))
    server.on("GET", "^/v2/persons$", Reply(429, None, headers))
    sleeps = Sleeps()
    client = PersonioClient(server.url, CREDS, retry=RetryPolicy(attempts=3, base_delay=0.002, max_delay=30.0), sleep=sleeps)
    next(client.persons())
    assert sleeps.waits == [wait] and len(_persons(server)) == 2


def test_an_emptied_bucket_paces_the_next_request(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"))
    server.on("GET", "^/v2/persons$", Reply(200, {"_data": [], "_meta": {}},
                                            {"x-ratelimit-remaining": "0", "x-ratelimit-replenish-rate": "4"}))
    sleeps = Sleeps()
    next(PersonioClient(server.url, CREDS, retry=FAST, sleep=sleeps).persons())
    assert sleeps.waits == [0.25]


def test_a_next_link_to_another_host_is_refused(server) -> None:
    server.on("POST", "^/v2/auth/token$", _token("t1"))
    server.on("GET", "^/v2/persons$", Reply(200, {"_data": [{"id": "1"}],
                                                  "_meta": {"links": {"next": {"href": "https://evil.example/v2/persons?cursor=x"}}}}))
    pages = PersonioClient(server.url, CREDS, retry=FAST).persons()
    assert next(pages) == [{"id": "1"}]
    with pytest.raises(ClientError, match="foreign host"):
        next(pages)


def test_the_app_id_must_be_upper_snake_case() -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        PersonioClient("http://127.0.0.1:9", PersonioCredentials("a", "b", app_id="hq-sync"))
    assert "pc-secret" not in repr(CREDS)


def test_filter_values_are_rendered_as_personio_reads_them() -> None:
    assert format_datetime(datetime(2026, 3, 1, 12, 30, tzinfo=UTC)) == "2026-03-01T12:30:00Z"
    assert format_local_day(date(2026, 3, 1)) == "2026-03-01T00:00:00"
