"""The ``extra`` of a tenant's HQ, awork and Personio connections: one validated model per vendor.

Every key a connection's extra may hold is declared here, with its type; anything else is a
configuration error that names the key (and the closest known one: ``requests_per_minut`` →
``requests_per_minute``). A retry cannot fix it, so tasks fail at once (``NotRetryable``).

Keys whose value is ``null`` or ``""`` count as not set: the connection form of the Airflow UI
writes every one of its fields, filled or not. A number of requests ``0`` turns that window of the
request budget off; not set means the vendor's default (``hq_sync.airflow.budgets``).

Kept free of Airflow imports: the hooks, the budgets, the webhook commands and the provider's
connection form (``hq_sync.airflow.provider``) all read these models.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hq_sync.errors import NotRetryable

VENDORS = ("hq", "awork", "personio")


class ConnectionExtraError(NotRetryable, ValueError):
    """A connection's extra has an unknown key or a value of the wrong type: fix the connection."""


class _Extras(BaseModel):
    """What every vendor connection may set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float | None = Field(None, gt=0, description="read timeout of one request, seconds (default 30)")
    requests_per_minute: int | None = Field(
        None, ge=0, description="this account's request budget per minute (0: no per-minute limit; empty: the default)"
    )
    requests_per_second: int | None = Field(
        None, ge=0, description="this account's request budget per second (0: no per-second limit; empty: the default)"
    )
    rate_account: str | None = Field(
        None, description="name of the vendor account: connections with the same name share one request budget"
    )
    max_retry_delay: float | None = Field(None, gt=0, description="cap of one back-off wait, seconds (tests)")


class _OAuth(BaseModel):
    refresh_token: str | None = Field(None, description="written by python -m hq_sync.connect.<vendor>")
    redirect_uri: str | None = Field(None, description="written by python -m hq_sync.connect.<vendor>")


class _Webhooks(BaseModel):
    """Written by ``python -m hq_sync.connect.webhooks`` (hq_sync.webhooks.auth)."""

    webhook_secret: str | None = None
    webhook_secret_previous: str | None = None
    webhook_secret_previous_until: str | None = None
    webhook_id: str | int | None = None


class HqExtras(_Extras, _OAuth):
    auth: Literal["token", "oauth"] = Field(
        "token", description="token: the sync token in the password; oauth: login = AppId, password = AppSecret"
    )
    write_concurrency: int | None = Field(
        None, ge=1, le=64, description="HQ writes a load sends at once (1-64, default 8); the budget still paces them"
    )


class AworkExtras(_Extras, _OAuth, _Webhooks):
    auth: Literal["api_key", "oauth"] = Field(
        "api_key",
        description="api_key: the API key in the password; oauth: login = client id, password = client secret",
    )


class PersonioExtras(_Extras, _Webhooks):
    app_id: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]+(?:_[A-Z0-9]+)*$",
        description="X-Personio-App-ID header, UPPER_SNAKE_CASE (default HQ_SYNC)",
    )


MODELS: dict[str, type[_Extras]] = {"hq": HqExtras, "awork": AworkExtras, "personio": PersonioExtras}


def allowed_keys(vendor: str) -> list[str]:
    return sorted(MODELS[vendor].model_fields)


def _set(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that are set (the UI form writes null for its empty fields)."""
    return {k: v for k, v in extra.items() if v is not None and not (isinstance(v, str) and not v.strip())}


def parse_extras(vendor: str, extra: Mapping[str, Any] | str | None, conn_id: str | None = None) -> Any:
    """The validated extra of a ``vendor`` connection; ``ConnectionExtraError`` names what is wrong."""
    where = f"Airflow connection {conn_id!r} ({vendor})" if conn_id else f"{vendor} connection"
    if isinstance(extra, str):
        import json

        try:
            extra = json.loads(extra) if extra.strip() else {}
        except ValueError as exc:
            raise ConnectionExtraError(f"{where}: the extra is not valid JSON ({exc})") from None
    if extra is not None and not isinstance(extra, Mapping):
        raise ConnectionExtraError(f"{where}: the extra must be a JSON object, got {type(extra).__name__}")
    model = MODELS[vendor]
    values = {k: v.strip() if isinstance(v, str) else v for k, v in _set(extra or {}).items()}
    if isinstance(values.get("auth"), str):
        values["auth"] = values["auth"].lower()
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConnectionExtraError(f"{where}: {_explain(vendor, exc)}") from None


def _explain(vendor: str, exc: ValidationError) -> str:
    known = allowed_keys(vendor)
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown extra key {key!r}{hint}; known keys: {', '.join(known)}")
        else:
            secret = any(word in key for word in ("secret", "token"))
            got = "" if secret else f" (got {error.get('input')!r})"
            problems.append(f"extra {key!r}: {error['msg']}{got}")
    return "; ".join(problems)
