"""One Personio token per tenant (issue #12): clients of the same credentials share it, in a process
and across processes through staging; a rejected token is dropped and replaced. Real HTTP against
the Personio sandbox, real SQLite staging."""

from __future__ import annotations

from pathlib import Path

from hq_sync.clients.personio import PersonioClient, PersonioCredentials, ProcessTokenCache, credentials_key
from hq_sync.staging.oauth_tokens import StagingAccessTokenCache
from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.personio.seed import seed_tenant

SECTION = {"client_id": "cache-id", "client_secret": "cache-secret",
           "persons": [{"email": "a@cache.example", "first_name": "A", "last_name": "B"}]}


def _tokens_minted(sandboxes, since: int) -> int:
    return len(sandboxes.admin("personio").requests(since=since, path="^/v2/auth/token"))


def _position(sandboxes) -> int:
    log = sandboxes.admin("personio").requests()
    return log[-1]["seq"] if log else 0


def _client(sandboxes, cache, secret: str = "cache-secret") -> PersonioClient:
    return PersonioClient(sandboxes.url("personio"), PersonioCredentials("cache-id", secret), token_cache=cache)


def test_clients_share_a_token_in_process_and_through_staging(fresh_sandboxes, tmp_path: Path):
    seed_tenant(fresh_sandboxes.url("personio"), "cache", SECTION)
    engine = create_staging_engine(f"sqlite:///{tmp_path}/staging.sqlite")
    upgrade(engine)
    start = _position(fresh_sandboxes)

    one = _client(fresh_sandboxes, StagingAccessTokenCache(engine, "cache", process=ProcessTokenCache()))
    list(one.persons())
    # another process: an empty process cache, the same staging
    two = _client(fresh_sandboxes, StagingAccessTokenCache(engine, "cache", process=ProcessTokenCache()))
    list(two.persons())
    assert _tokens_minted(fresh_sandboxes, start) == 1
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT refresh_token, seeded_from FROM oauth_tokens WHERE system = 'personio_access'").one()
    assert stored.seeded_from == credentials_key(fresh_sandboxes.url("personio"), PersonioCredentials("cache-id", "cache-secret"))
    assert "cache-secret" not in stored.refresh_token

    # other credentials never get that token
    other = _client(fresh_sandboxes, StagingAccessTokenCache(engine, "cache", process=ProcessTokenCache()), secret="rotated")
    assert other.token_cache.get(other._cache_key) is None

    # a token Personio rejects is dropped and replaced once, for everyone
    fresh_sandboxes.admin("personio").post("/tenants/cache/invalidate-tokens", {})
    start = _position(fresh_sandboxes)
    three = _client(fresh_sandboxes, StagingAccessTokenCache(engine, "cache", process=ProcessTokenCache()))
    list(three.persons())
    four = _client(fresh_sandboxes, StagingAccessTokenCache(engine, "cache", process=ProcessTokenCache()))
    list(four.persons())
    assert _tokens_minted(fresh_sandboxes, start) == 1


def test_without_a_cache_each_client_mints_its_own(fresh_sandboxes):
    seed_tenant(fresh_sandboxes.url("personio"), "cache", SECTION)
    start = _position(fresh_sandboxes)
    for _ in range(2):
        list(_client(fresh_sandboxes, None).persons())
    assert _tokens_minted(fresh_sandboxes, start) == 2
