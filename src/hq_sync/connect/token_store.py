"""Where a rotating OAuth refresh token lives between task runs.

awork replaces the refresh token on every use (awork.md §2b). Airflow 3 tasks cannot write
Airflow connections, so the connection holds the token the connect command obtained (the *seed*)
and the staging database holds the latest rotation, encrypted with a Fernet key when one is
configured (``$HQ_SYNC_FERNET_KEY``, else Airflow's ``AIRFLOW__CORE__FERNET_KEY``). When the
connection's token changes (the tenant was re-authorised), the stored chain is replaced by it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select

from hq_sync.staging import ensure_schema
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


def fingerprint(token: str | None) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


class TokenStoreError(RuntimeError):
    """The stored token cannot be read (e.g. encrypted with another key)."""


class StagingTokenStore:
    """A ``TokenStore`` (hq_sync.clients.awork) backed by the staging database."""

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
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_tokens).where(oauth_tokens.c.tenant == self.tenant, oauth_tokens.c.system == self.system)
            ).one_or_none()
        if row is None or row.seeded_from != fingerprint(self.seed):
            return self.seed
        if not row.encrypted:
            return str(row.refresh_token)
        fernet = _fernet()
        if fernet is None:
            raise TokenStoreError(f"the stored {self.system} token of {self.tenant} is encrypted, but no Fernet key is set ({' or '.join(FERNET_ENV)})")
        try:
            return fernet.decrypt(str(row.refresh_token).encode()).decode()
        except InvalidToken as exc:
            raise TokenStoreError(f"the stored {self.system} token of {self.tenant} was encrypted with another Fernet key") from exc

    def save(self, refresh_token: str) -> None:
        """Store a new rotation (committed before this returns)."""
        fernet = _fernet()
        if fernet is None:
            log.warning("no Fernet key set (%s): the %s refresh token is stored unencrypted", FERNET_ENV[0], self.system)
        values = {
            "tenant": self.tenant,
            "system": self.system,
            "refresh_token": fernet.encrypt(refresh_token.encode()).decode() if fernet else refresh_token,
            "encrypted": fernet is not None,
            "seeded_from": fingerprint(self.seed),
            "updated_at": utcnow(),
        }
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, oauth_tokens).values(**values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["tenant", "system"],
                set_={k: v for k, v in values.items() if k not in ("tenant", "system")},
            ))


class StagingAccessTokenCache:
    """A Personio ``TokenCache`` (hq_sync.clients.personio) shared by every task of a tenant, also
    across processes and workers: the access token lives in this process's cache and in staging's
    ``oauth_tokens`` (system ``<system>_access``; Fernet-encrypted when a key is set, as refresh
    tokens are), tagged with the credentials' hash so that a changed secret is never served an old
    token. Each Airflow task runs in a process of its own, so without this every step would mint
    its own token (issue #12). Never logged."""

    def __init__(self, engine: Engine, tenant: str, system: str = "personio", process: object | None = None) -> None:
        from hq_sync.clients.personio import PROCESS_TOKENS

        self.engine = engine
        self.tenant = tenant
        self.system = f"{system}_access"
        self.process = process or PROCESS_TOKENS
        ensure_schema(engine)

    def __repr__(self) -> str:
        return f"StagingAccessTokenCache(tenant={self.tenant!r}, system={self.system!r})"

    def get(self, key: str) -> tuple[str, float] | None:
        hit: tuple[str, float] | None = self.process.get(key)  # type: ignore[attr-defined]
        if hit is not None:
            return hit
        hit = self._stored(key)
        if hit is not None:
            self.process.put(key, *hit)  # type: ignore[attr-defined]
        return hit

    def _stored(self, key: str) -> tuple[str, float] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(oauth_tokens).where(oauth_tokens.c.tenant == self.tenant, oauth_tokens.c.system == self.system)
            ).one_or_none()
        if row is None or row.seeded_from != key:
            return None
        text = str(row.refresh_token)
        if row.encrypted:
            fernet = _fernet()
            if fernet is None:
                return None
            try:
                text = fernet.decrypt(text.encode()).decode()
            except InvalidToken:
                return None  # another key: mint a new one
        try:
            value = json.loads(text)
            return str(value["token"]), float(value["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, token: str, expires_at: float) -> None:
        self.process.put(key, token, expires_at)  # type: ignore[attr-defined]
        fernet = _fernet()
        text = json.dumps({"token": token, "expires_at": expires_at})
        values = {
            "tenant": self.tenant,
            "system": self.system,
            "refresh_token": fernet.encrypt(text.encode()).decode() if fernet else text,
            "encrypted": fernet is not None,
            "seeded_from": key,
            "updated_at": utcnow(),
        }
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, oauth_tokens).values(**values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["tenant", "system"],
                set_={k: v for k, v in values.items() if k not in ("tenant", "system")},
            ))

    def drop(self, key: str, token: str) -> None:
        self.process.drop(key, token)  # type: ignore[attr-defined]
        current = self._stored(key)
        if current is not None and current[0] == token:
            with self.engine.begin() as conn:
                conn.execute(oauth_tokens.delete().where(oauth_tokens.c.tenant == self.tenant,
                                                         oauth_tokens.c.system == self.system))
