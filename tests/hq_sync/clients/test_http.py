"""The HTTP base every vendor client shares (``hq_sync.clients.http``), against a real loopback
HTTP server scripted per test (``loopback.ScriptedServer``): which failures are retried for which
methods, how often, how long the client waits, when a write's outcome is ambiguous, 401 →
re-authentication, and the failures before anything was sent (refused, connect timeout).

Waits are kept tiny through the client's ``RetryPolicy``; where a test checks a long wait (a
``Retry-After`` of minutes) the client's ``sleep`` records it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from hq_sync.clients.http import (
    AmbiguousWriteError,
    AuthError,
    ClientError,
    HttpClient,
    NotFoundError,
    RetryPolicy,
    TransientError,
    _never_sent,
)

from .loopback import Answer, Close, CutBody, Hang, NotAccepting, Reply, ScriptedServer, Sleeps, refusing_port

# Three attempts, back-off of a few milliseconds; a read timeout generous enough for a loaded
# machine, and a short one where a test waits for it to expire (a hanging server).
FAST = RetryPolicy(attempts=3, base_delay=0.002, max_delay=0.05, timeout=(0.5, 2.0))
SHORT_READ = replace(FAST, timeout=(0.5, 0.3))

FAILURES: dict[str, Answer] = {
    "500": Reply(500, {"error": "boom"}),
    "502": Reply(502, None),
    "503": Reply(503, {"error": "maintenance"}),
    "504": Reply(504, None),
    "timeout": Hang(2.0),  # longer than the 0.3 s read timeout of SHORT_READ
    "dropped": Close(),  # the request arrived; the connection closes without an answer
    "cut-body": CutBody(),  # status and headers arrive, the body is cut off
}


class ReauthClient(HttpClient):
    """An HttpClient whose credentials can be renewed: token ``t1``, after a re-authentication
    ``t2``, and so on (what the vendor clients do with OAuth and Personio tokens)."""

    vendor = "acme"

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.generation = 1
        self.reauthentications = 0

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer t{self.generation}"}

    def _reauthenticate(self) -> bool:
        self.reauthentications += 1
        self.generation += 1
        return True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def client_for(server: ScriptedServer, retry: RetryPolicy = FAST, **kwargs) -> HttpClient:  # noqa: ANN003
    return HttpClient(server.url, retry=retry, **kwargs)


def policy_for(answer: Answer) -> RetryPolicy:
    return SHORT_READ if isinstance(answer, Hang) else FAST


def methods(server: ScriptedServer) -> list[str]:
    return [s.method for s in server.requests(path="^/thing")]


# -- the retry matrix ----------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize(("method", "idempotent"), [("GET", None), ("PUT", None), ("DELETE", None), ("POST", True)])
def test_an_idempotent_request_is_retried_after_a_transient_failure(server, method, idempotent, failure) -> None:
    server.on(None, "^/thing$", FAILURES[failure])  # then 200
    client = client_for(server, policy_for(FAILURES[failure]))
    resp = client.request(method, "/thing", json={"a": 1}, idempotent=idempotent)
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert methods(server) == [method, method]
    assert client.requests_sent == 2


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_whose_outcome_is_unknown_is_ambiguous_and_never_repeated(server, method, failure) -> None:
    server.on(None, "^/thing$", FAILURES[failure])
    client = client_for(server, policy_for(FAILURES[failure]))
    with pytest.raises(AmbiguousWriteError, match=f"^api {method} /thing.*the write may or may not have happened") as err:
        client.request(method, "/thing", json={"amount": 1})
    assert methods(server) == [method]  # sent once: a blind retry could book it twice
    assert err.value.method == method and err.value.url == server.url + "/thing"
    if failure.isdigit():
        assert err.value.status == int(failure)
    else:
        assert err.value.status is None and isinstance(err.value.__cause__, requests.RequestException)


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_429_is_retried_for_every_method_because_nothing_was_performed(server, method) -> None:
    server.on(None, "^/thing$", Reply(429, {"error": "slow down"}, {"Retry-After": "0"}))
    client = client_for(server)
    assert client.request(method, "/thing", json={}).status_code == 200
    assert methods(server) == [method, method]


@pytest.mark.parametrize(
    ("method", "answer", "message"),
    [
        ("GET", Reply(503, {"error": "maintenance"}), r"^api GET /thing -> 503 after 3 attempts$"),
        ("POST", Reply(429, None, {"Retry-After": "0"}), r"^api POST /thing -> 429 after 3 attempts$"),
        ("GET", Hang(2.0), r"^api GET /thing: ReadTimeout after 3 attempts$"),
        ("PUT", Close(), r"^api PUT /thing: ConnectionError after 3 attempts$"),
        ("DELETE", CutBody(), r"^api DELETE /thing: ChunkedEncodingError after 3 attempts$"),
    ],
    ids=["503", "429-post", "timeout", "dropped", "cut-body"],
)
def test_a_failure_that_persists_gives_up_after_the_policys_attempts(server, method, answer, message) -> None:
    server.always(None, "^/thing$", answer)
    client = client_for(server, policy_for(answer))
    with pytest.raises(TransientError, match=message):
        client.request(method, "/thing")
    assert methods(server) == [method] * 3 and client.requests_sent == 3


@pytest.mark.parametrize("attempts", [1, 5])
def test_the_number_of_attempts_is_the_policys(server, attempts) -> None:
    server.always("GET", "^/thing$", Reply(500))
    client = client_for(server, replace(FAST, attempts=attempts))
    with pytest.raises(TransientError, match=f"after {attempts} attempts") as err:
        client.request("GET", "/thing")
    assert len(methods(server)) == attempts and err.value.status == 500 and err.value.body == {"ok": True}


def test_the_last_error_body_is_kept_for_the_report(server) -> None:
    server.always("GET", "^/thing$", Reply(503, {"error": "down for maintenance"}))
    with pytest.raises(TransientError) as err:
        client_for(server).request("GET", "/thing")
    assert err.value.body == {"error": "down for maintenance"} and err.value.status == 503


@pytest.mark.parametrize(
    ("status", "error", "body", "message"),
    [
        (400, ClientError, {"error": "Name is required"}, r"^acme POST /thing -> 400: \{'error': 'Name is required'\}$"),
        (404, NotFoundError, {"error": "no such thing"}, r"^acme POST /thing -> 404: "),
        (403, AuthError, {"error": "missing scope"}, r"^acme POST /thing -> 403: \{'error': 'missing scope'\}$"),
        (409, ClientError, "conflict", r"^acme POST /thing -> 409: conflict$"),
        (422, ClientError, None, r"^acme POST /thing -> 422: $"),
    ],
)
def test_a_refusal_is_not_retried_and_says_what_the_server_said(server, status, error, body, message) -> None:
    server.on(None, "^/thing$", Reply(status, body))
    client = ReauthClient(server.url, retry=FAST)
    with pytest.raises(error, match=message) as err:
        client.request("POST", "/thing", json={})
    assert type(err.value) is error and err.value.status == status
    assert methods(server) == ["POST"] and client.reauthentications == 0


def test_a_long_error_body_is_shortened_in_the_message(server) -> None:
    server.on(None, "^/thing$", Reply(400, {"error": "x" * 5000}))
    with pytest.raises(ClientError) as err:
        client_for(server).request("GET", "/thing")
    assert len(str(err.value)) < 400 and str(err.value).endswith("…")
    assert err.value.body == {"error": "x" * 5000}  # the whole body stays on the error


def test_a_slow_answer_within_the_read_timeout_is_no_failure(server) -> None:
    server.on(None, "^/thing$", Reply(201, {"Id": 7}, delay=0.1))
    client = client_for(server)
    assert client.request("POST", "/thing", json={}).json() == {"Id": 7}
    assert methods(server) == ["POST"]


def test_the_read_timeout_is_the_policys(server) -> None:
    server.always("GET", "^/thing$", Hang(5.0))
    client = client_for(server, replace(FAST, attempts=2, timeout=(0.5, 0.2)))
    started = time.monotonic()
    with pytest.raises(TransientError, match="ReadTimeout after 2 attempts"):
        client.request("GET", "/thing")
    assert 0.4 <= time.monotonic() - started < 3.0  # two attempts of 0.2 s, not the hang's 5 s each


# -- back-off ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_between_attempts(server, status) -> None:
    server.on(None, "^/thing$", Reply(status, None, {"Retry-After": "0.25"}))
    client = client_for(server, replace(FAST, max_delay=0.1))  # waits are capped at 4 × max_delay
    client.request("GET", "/thing")
    first, second = server.requests(path="^/thing")
    assert second.at - first.at >= 0.25


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0), ("100000", 120.0)],
)
def test_the_wait_is_what_retry_after_says_within_bounds(server, retry_after, expected) -> None:
    server.on(None, "^/thing$", Reply(429, None, {"Retry-After": retry_after}))
    sleeps = Sleeps()
    client = client_for(server, replace(FAST, max_delay=30.0), sleep=sleeps)  # cap: 4 × 30 s
    client.request("GET", "/thing")
    assert sleeps.waits == [expected]


def test_without_retry_after_the_back_off_doubles_with_jitter_up_to_max_delay(server) -> None:
    server.always("GET", "^/thing$", Reply(500))
    sleeps = Sleeps()
    client = client_for(server, RetryPolicy(attempts=6, base_delay=1.0, max_delay=3.0, timeout=(0.5, 2.0)), sleep=sleeps)
    with pytest.raises(TransientError):
        client.request("GET", "/thing")
    ceilings = [1.0, 2.0, 3.0, 3.0, 3.0]  # base × 2^(n-1), at most max_delay; jitter takes 50-100 % of it
    assert len(sleeps.waits) == len(ceilings)
    for wait, ceiling in zip(sleeps.waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_an_unreadable_retry_after_falls_back_to_the_back_off(server) -> None:
    server.on(None, "^/thing$", Reply(503, None, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}))
    sleeps = Sleeps()
    client_for(server, RetryPolicy(attempts=3, base_delay=1.0, max_delay=3.0), sleep=sleeps).request("GET", "/thing")
    assert len(sleeps.waits) == 1 and 0.5 <= sleeps.waits[0] <= 1.0


def test_connection_failures_back_off_too(server) -> None:
    server.on(None, "^/thing$", Close(), Close())
    sleeps = Sleeps()
    client_for(server, RetryPolicy(attempts=3, base_delay=1.0, max_delay=3.0, timeout=(0.5, 2.0)), sleep=sleeps).request("GET", "/thing")
    assert len(sleeps.waits) == 2 and 0.5 <= sleeps.waits[0] <= 1.0 and 1.0 <= sleeps.waits[1] <= 2.0


# -- 401 → one re-authentication ---------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_401_re_authenticates_once_and_retries_with_the_new_credentials(server, method) -> None:
    server.on(None, "^/thing$", Reply(401, {"error": "invalid_token"}))
    client = ReauthClient(server.url, retry=FAST)
    assert client.request(method, "/thing", json={}).status_code == 200
    assert [s.headers["Authorization"] for s in server.requests(path="^/thing")] == ["Bearer t1", "Bearer t2"]
    assert client.reauthentications == 1


def test_a_second_401_fails_without_another_try_and_says_why(server) -> None:
    revoked = Reply(401, {"error": "invalid_token", "error_description": "token revoked"})
    server.on(None, "^/thing$", revoked, revoked)  # a third try would succeed: there must be none
    client = ReauthClient(server.url, retry=FAST)
    with pytest.raises(AuthError, match=r"^acme GET /thing -> 401: .*'token revoked'\} \(refused again after "
                                        r"re-authenticating: revoked credentials or a missing permission\)$") as err:
        client.request("GET", "/thing")
    assert not isinstance(err.value, TransientError) and err.value.status == 401
    assert len(server.requests(path="^/thing")) == 2 and client.reauthentications == 1


def test_a_401_that_re_authenticating_cannot_fix_fails_at_once(server) -> None:
    server.always(None, "^/thing$", Reply(401, {"error": "invalid_token"}))
    client = client_for(server)  # no credentials to renew (a static token)
    with pytest.raises(AuthError, match=r"^api GET /thing -> 401: \{'error': 'invalid_token'\}$"):  # nothing about re-authenticating
        client.request("GET", "/thing")
    assert len(server.requests(path="^/thing")) == 1


def test_an_unauthenticated_request_never_re_authenticates(server) -> None:
    server.on(None, "^/token$", Reply(401, {"error": "invalid_client"}))
    client = ReauthClient(server.url, retry=FAST)
    with pytest.raises(AuthError, match="invalid_client"):
        client.raw_request("POST", "/token", data={"grant_type": "x"})
    assert client.reauthentications == 0 and "Authorization" not in server.requests(path="^/token")[0].headers


def test_a_401_after_a_retry_still_re_authenticates_once(server) -> None:
    server.on(None, "^/thing$", Reply(503), Reply(401), Reply(401))
    client = ReauthClient(server.url, retry=replace(FAST, attempts=6))
    with pytest.raises(AuthError):
        client.request("GET", "/thing")
    assert len(server.requests(path="^/thing")) == 3 and client.reauthentications == 1


class RenewableToken:
    """Credentials as ``HttpClient(auth=...)`` takes them (``BearerAuth``): ``r1``, after an
    invalidation ``r2``, and so on."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidations = 0

    def authorization(self) -> str:
        return f"Bearer r{self.generation}"

    def invalidate(self) -> bool:
        self.invalidations += 1
        self.generation += 1
        return True


def test_the_clients_credentials_are_sent_and_renewed_once_after_a_401(server) -> None:
    server.on(None, "^/thing$", Reply(401), Reply(401), Reply(200, {"late": True}))
    token = RenewableToken()
    client = client_for(server, auth=token)
    with pytest.raises(AuthError, match="refused again after re-authenticating"):
        client.request("GET", "/thing")
    assert [s.headers["Authorization"] for s in server.requests(path="^/thing")] == ["Bearer r1", "Bearer r2"]
    assert token.invalidations == 1


def test_a_static_token_is_final_on_a_401_and_never_shown(server) -> None:
    from hq_sync.clients.auth import StaticBearerToken

    server.on(None, "^/thing$", Reply(401, {"error": "invalid_token"}))
    token = StaticBearerToken("the-secret")
    client = client_for(server, auth=token)
    with pytest.raises(AuthError) as err:
        client.request("GET", "/thing")
    assert server.requests(path="^/thing")[0].headers["Authorization"] == "Bearer the-secret"
    assert len(server.requests(path="^/thing")) == 1  # nothing to renew: no second try
    assert "the-secret" not in str(err.value) + repr(token)
    with pytest.raises(ValueError, match="empty token"):
        StaticBearerToken("")


def test_one_object_or_none_and_a_delete_that_finds_nothing(server) -> None:
    server.on("GET", "^/things/1$", Reply(200, {"Id": 1}))
    server.on("GET", "^/things/2$", Reply(404, {"error": "gone"}))
    server.on("DELETE", "^/things/3$", Reply(404, {"error": "gone"}))
    server.on("DELETE", "^/things/4$", Reply(204, None))
    client = client_for(server)
    assert client.get_or_none("/things/1") == {"Id": 1} and client.get_or_none("/things/2") is None
    assert client.request_if_found("DELETE", "/things/3") is False
    assert client.request_if_found("DELETE", "/things/4") is True
    server.on("DELETE", "^/things/5$", Reply(400, {"error": "in use"}))
    with pytest.raises(ClientError):  # only a 404 reads as "already gone"
        client.request_if_found("DELETE", "/things/5")


def test_the_servers_clock_is_kept_from_its_date_header(server) -> None:
    from datetime import UTC, datetime

    server.on("GET", "^/thing$", Reply(200, {}, {"Date": "Sun, 29 Nov 2026 11:44:27 GMT"}))
    server.on("GET", "^/thing$", Reply(500))  # a failed answer leaves the last known clock alone
    client = client_for(server, replace(FAST, attempts=1))
    client.request("GET", "/thing")
    assert client.last_server_time == datetime(2026, 11, 29, 11, 44, 27, tzinfo=UTC)
    with pytest.raises(TransientError):
        client.request("GET", "/thing")
    assert client.last_server_time == datetime(2026, 11, 29, 11, 44, 27, tzinfo=UTC)


# -- nothing sent: the connection could not be opened ------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_refused_connection_is_retried_for_every_method(method) -> None:
    client = HttpClient(f"http://127.0.0.1:{refusing_port()}", retry=FAST)
    with pytest.raises(TransientError, match=f"^api {method} /thing: ConnectionError after 3 attempts$") as err:
        client.request(method, "/thing", json={})
    assert client.requests_sent == 3
    cause = err.value.__cause__
    assert isinstance(cause, requests.ConnectionError) and _never_sent(cause)


def test_a_write_refused_while_the_server_restarts_is_sent_once_it_is_up() -> None:
    port = refusing_port()
    client = HttpClient(f"http://127.0.0.1:{port}", retry=replace(FAST, attempts=200, base_delay=0.02, max_delay=0.02))
    later: list[ScriptedServer] = []  # binding the port is what makes connecting succeed: do it later
    timer = threading.Timer(0.2, lambda: later.append(ScriptedServer(port=port).start()))
    timer.start()
    try:
        assert client.request("POST", "/thing", json={"amount": 1}).status_code == 200
    finally:
        timer.join()
        for srv in later:
            srv.stop()
    assert client.requests_sent > 1  # refused at first, retried although a POST
    assert [s.json() for s in later[0].requests("POST", "^/thing$")] == [{"amount": 1}]  # and performed once


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connect_timeout_is_retried_for_every_method(method) -> None:
    with NotAccepting() as target:
        client = HttpClient(target.url, retry=replace(FAST, attempts=2, timeout=(0.15, 0.3)))
        with pytest.raises(TransientError, match=f"^api {method} /thing: ConnectTimeout after 2 attempts$"):
            client.request(method, "/thing", json={})
    assert client.requests_sent == 2


def test_never_sent_is_decided_by_type_not_by_wording() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    assert _never_sent(requests.ConnectionError(MaxRetryError(None, "/thing", refused)))
    assert _never_sent(requests.ConnectTimeout("connect timed out"))
    # An answer lost after sending whose text merely mentions the name is not "never sent".
    lost = ProtocolError("Connection aborted.", ConnectionResetError("peer said NewConnectionError"))
    assert not _never_sent(requests.ConnectionError(lost))
    assert not _never_sent(requests.ConnectionError("NewConnectionError"))
    assert not _never_sent(requests.ReadTimeout("NewConnectionError"))


def test_never_sent_follows_every_link_of_the_chain() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    refused = NewConnectionError(None, "connection refused")
    try:  # raised while handling the refusal, without naming it: only __context__ links them
        try:
            raise refused
        except NewConnectionError:
            raise requests.ConnectionError("could not connect") from None
    except requests.ConnectionError as implicit:
        assert implicit.__cause__ is None and _never_sent(implicit)
    explicit = requests.ConnectionError("could not connect")
    explicit.__cause__ = MaxRetryError(None, "/thing", refused)
    assert _never_sent(explicit)
    looped = ProtocolError("Connection aborted.")  # a cycle in the chain ends the walk
    looped.__context__ = requests.ConnectionError(looped)
    assert not _never_sent(requests.ConnectionError(looped))
    # Not a connection error at all: a timeout after sending, whatever its chain holds.
    late = requests.ReadTimeout("read timed out")
    late.__cause__ = refused
    assert not _never_sent(late)
