"""Where rotating OAuth refresh tokens (and shared access tokens) live between task runs.

awork and HQ replace the refresh token on every use (awork.md §2b, issue #10). Airflow 3 tasks
cannot write Airflow connections, so the connection holds the token the connect command obtained
(the *seed*) and the staging database's ``oauth_tokens`` holds the latest rotation, encrypted with a
Fernet key when one is configured (``$HQ_SYNC_FERNET_KEY``, else Airflow's
``AIRFLOW__CORE__FERNET_KEY``). When the connection's token changes (the tenant was re-authorised),
the stored chain is replaced by it.

The same table keeps a Personio access token per tenant (system ``personio_access``) that every task
of the tenant shares (issue #12). Used by the Airflow hooks (``hq_sync.airflow.hooks``) and the
connect commands; it sits in staging, below both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select

from hq_sync.staging.migrate import ensure_schema
from hq_sync.staging.repository import dialect_insert
from hq_sync.staging.schema import oauth_tokens, utcnow

log = logging.getLogger(__name__)

FERNET_ENV = ("HQ_SYNC_FERNET_KEY", "AIRFLOW__CORE__FERNET_KEY")


def _fernet() -> Fernet | None:
    from hq_sync.settings import settings

    for name in FERNET_ENV:  # ours first (in the settings), then Airflow's own
        key = settings().fernet_key if name == "HQ_SYNC_FERNET_KEY" else os.environ.get(name)
        if key:
            return Fernet(key.encode())
    return None


def seed_fingerprint(token: str | None) -> str:
    """The hash of the connection's refresh token a stored rotation descends from (never the token)."""
    return hashlib.sha256((token or "").encode()).hexdigest()


class TokenStoreError(RuntimeError):
    """The stored token cannot be read (e.g. encrypted with another key)."""


class _NoKey(Exception):
    """The stored text is encrypted and no Fernet key is set."""


def _stored_row(engine: Engine, tenant: str, system: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(
            select(oauth_tokens).where(oauth_tokens.c.tenant == tenant, oauth_tokens.c.system == system)
        ).one_or_none()


def _plain_text(row: Any) -> str:
    """The row's token text, decrypted when it was stored encrypted (``_NoKey``, ``InvalidToken``)."""
    text = str(row.refresh_token)
    if not row.encrypted:
        return text
    fernet = _fernet()
    if fernet is None:
        raise _NoKey
    return fernet.decrypt(text.encode()).decode()


def _store(engine: Engine, tenant: str, system: str, text: str, seeded_from: str) -> bool:
    """Insert or replace the row (committed before this returns); whether it was encrypted."""
    fernet = _fernet()
    values = {
        "tenant": tenant,
        "system": system,
        "refresh_token": fernet.encrypt(text.encode()).decode() if fernet else text,
        "encrypted": fernet is not None,
        "seeded_from": seeded_from,
        "updated_at": utcnow(),
    }
    with engine.begin() as conn:
        stmt = dialect_insert(conn, oauth_tokens).values(**values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant", "system"],
                set_={k: v for k, v in values.items() if k not in ("tenant", "system")},
            )
        )
    return fernet is not None


class StagingTokenStore:
    """A ``TokenStore`` (hq_sync.clients.oauth) backed by the staging database."""

    def __init__(self, engine: Engine, tenant: str, system: str, seed: str | None) -> None:
        self.engine = engine
        self.tenant = tenant
        self.system = system
        self.seed = seed  # the refresh token in the Airflow connection
        ensure_schema(engine)

    def __repr__(self) -> str:
        return f"StagingTokenStore(tenant={self.tenant!r}, system={self.system!r})"

    def load(self) -> str | None:
        """The latest refresh token: the stored rotation, or the connection's after a re-authorisation."""
        row = _stored_row(self.engine, self.tenant, self.system)
        if row is None or row.seeded_from != seed_fingerprint(self.seed):
            return self.seed
        token = f"the stored {self.system} token of {self.tenant}"
        try:
            return _plain_text(row)
        except _NoKey:
            raise TokenStoreError(
                f"{token} is encrypted, but no Fernet key is set ({' or '.join(FERNET_ENV)})"
            ) from None
        except InvalidToken as exc:
            raise TokenStoreError(f"{token} was encrypted with another Fernet key") from exc

    def save(self, refresh_token: str) -> None:
        """Store a new rotation (committed before this returns)."""
        if not _store(self.engine, self.tenant, self.system, refresh_token, seed_fingerprint(self.seed)):
            log.warning(
                "no Fernet key set (%s): the %s refresh token is stored unencrypted", FERNET_ENV[0], self.system
            )


class ProcessCache(Protocol):
    """The process-local token cache in front of the stored one (``clients.personio.ProcessTokenCache``)."""

    def get(self, key: str) -> tuple[str, float] | None: ...

    def put(self, key: str, token: str, expires_at: float) -> None: ...

    def drop(self, key: str, token: str) -> None: ...


class StagingAccessTokenCache:
    """A Personio ``TokenCache`` (hq_sync.clients.personio) shared by every task of a tenant, also
    across processes and workers: the access token lives in the process's cache (``process``) and in
    staging's ``oauth_tokens`` (system ``<system>_access``; Fernet-encrypted when a key is set, as
    refresh tokens are), tagged with the credentials' hash so that a changed secret is never served
    an old token. Each Airflow task runs in a process of its own, so without this every step would
    mint its own token (issue #12). Never logged."""

    def __init__(self, engine: Engine, tenant: str, *, process: ProcessCache, system: str = "personio") -> None:
        self.engine = engine
        self.tenant = tenant
        self.system = f"{system}_access"
        self.process = process
        ensure_schema(engine)

    def __repr__(self) -> str:
        return f"StagingAccessTokenCache(tenant={self.tenant!r}, system={self.system!r})"

    def get(self, key: str) -> tuple[str, float] | None:
        hit = self.process.get(key)
        if hit is not None:
            return hit
        hit = self._stored(key)
        if hit is not None:
            self.process.put(key, *hit)
        return hit

    def _stored(self, key: str) -> tuple[str, float] | None:
        row = _stored_row(self.engine, self.tenant, self.system)
        if row is None or row.seeded_from != key:
            return None
        try:
            value = json.loads(_plain_text(row))
            return str(value["token"]), float(value["expires_at"])
        except (_NoKey, InvalidToken):  # no key, or another one: mint a new token
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, token: str, expires_at: float) -> None:
        self.process.put(key, token, expires_at)
        _store(self.engine, self.tenant, self.system, json.dumps({"token": token, "expires_at": expires_at}), key)

    def drop(self, key: str, token: str) -> None:
        self.process.drop(key, token)
        current = self._stored(key)
        if current is not None and current[0] == token:
            with self.engine.begin() as conn:
                conn.execute(
                    oauth_tokens.delete().where(
                        oauth_tokens.c.tenant == self.tenant, oauth_tokens.c.system == self.system
                    )
                )
