"""Webhook secrets: how each vendor presents them, where they live, constant-time comparison.

- **Personio** sends the token configured on the webhook verbatim in ``Authorization`` (no prefix
  is added). We configure a random secret and compare the whole header with it.
- **awork** sends the configured header (``authenticationType: header``,
  ``authentication: "<Header>=<value>"``). We use ``X-Hq-Sync-Secret``.

The secret lives in the tenant's Airflow connection of that vendor (``personio_<tenant>``,
``awork_<tenant>``), extra ``webhook_secret``. After a rotation the previous secret stays valid
until ``webhook_secret_previous_until`` (deliveries in flight still carry it).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hq_sync.timeutil import parse_timestamp

AWORK_SECRET_HEADER = "X-Hq-Sync-Secret"
SECRET_HEADER = {"personio": "Authorization", "awork": AWORK_SECRET_HEADER}
SECRET_EXTRA = "webhook_secret"
PREVIOUS_EXTRA = "webhook_secret_previous"
PREVIOUS_UNTIL_EXTRA = "webhook_secret_previous_until"
WEBHOOK_ID_EXTRA = "webhook_id"
ROTATION_GRACE = timedelta(minutes=15)
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh random secret (URL-safe, 256 bits)."""
    return "hqsw_" + secrets.token_urlsafe(SECRET_BYTES)


def matches(presented: str | None, accepted: Iterable[str]) -> bool:
    """Whether the presented header value equals one of the accepted secrets.

    Every accepted secret is compared (``hmac.compare_digest``), so the time taken does not depend
    on which one matched or how much of it did.
    """
    if not presented:
        return False
    given = presented.encode()
    found = False
    for secret in accepted:
        if secret and hmac.compare_digest(given, secret.encode()):
            found = True
    return found


@dataclass(frozen=True)
class StoredSecrets:
    """The secrets a tenant's connection holds for one vendor."""

    current: str | None
    previous: str | None = None
    previous_until: datetime | None = None

    def accepted(self, now: datetime | None = None) -> list[str]:
        """The secrets a delivery may carry now (current, and the previous during the grace)."""
        now = now or datetime.now(UTC)
        result = [self.current] if self.current else []
        if self.previous and self.previous_until and now < self.previous_until:
            result.append(self.previous)
        return result

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> StoredSecrets:
        extra = extra or {}
        until = extra.get(PREVIOUS_UNTIL_EXTRA)
        try:
            until_at = parse_timestamp(until)
        except ValueError:
            until_at = None
        return cls(extra.get(SECRET_EXTRA) or None, extra.get(PREVIOUS_EXTRA) or None, until_at)


def rotated_extra(extra: Mapping[str, Any] | None, secret: str, now: datetime | None = None) -> dict[str, Any]:
    """The connection extra after storing ``secret``: the old one stays valid for the grace period."""
    now = now or datetime.now(UTC)
    result = dict(extra or {})
    old = result.get(SECRET_EXTRA)
    if old and old != secret:
        result[PREVIOUS_EXTRA] = old
        result[PREVIOUS_UNTIL_EXTRA] = (now + ROTATION_GRACE).isoformat()
    result[SECRET_EXTRA] = secret
    return result


def removed_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The connection extra without any webhook setting (after ``--remove``)."""
    keys = {SECRET_EXTRA, PREVIOUS_EXTRA, PREVIOUS_UNTIL_EXTRA, WEBHOOK_ID_EXTRA}
    return {k: v for k, v in (extra or {}).items() if k not in keys}
