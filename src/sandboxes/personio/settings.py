"""Behaviour switches of the Personio sandbox (``GET``/``PUT /_sandbox/settings``).

Each switch covers a point where the sources disagree or are unsure (see docs/sandbox/personio.md).
A ``PUT`` merges the given keys into the current settings (nested objects are merged too); a
``POST /_sandbox/reset`` restores the defaults.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from sandboxes.common.store import Store

ADMIN_TENANT = "_sandbox"

# Endpoint groups: each has its own limit maximum/default and its own rate-limit bucket.
GROUPS = ("persons", "absence-types", "absence-periods")
RATE_GROUPS = ("auth", *GROUPS)

DEFAULT_SETTINGS: dict[str, Any] = {
    # Day-unit periods: "exclusive" renders ends_at as local midnight *after* the last absent day
    # (observed live by a peer), "inclusive" as midnight *of* the last absent day.
    "day_end_boundary": "exclusive",
    # "overlap": starts_from.date_time.gte and ends_at.date_time.lte bound a window and match every
    # period overlapping it (the reference docs' wording); "literal": each filter compares its own
    # field.
    "date_filter_semantics": "overlap",
    # An open-ended period (ends_at null) in filters that read the end (ends_at.*, and
    # starts_from.date_time.gte under "overlap"): "never_ends" (matches like an end in the far
    # future) or "excluded" (SQL's NULL comparison: never matches). Unknown (issue #10).
    "open_ended_in_filters": "never_ends",
    # /v2/persons created_at/updated_at filters: "date_time" as documented, or "date_only" (a value
    # with a time is refused with 400; a date means its midnight UTC), as pysonio reports (issue #12).
    "person_date_filters": "date_time",
    # /breakdowns: weekend days listed with value 0 ("zero") or left out ("omit"); unknown.
    "breakdown_weekends": "zero",
    # Refuse (409) a period overlapping another non-rejected, non-cancelled period of the person.
    "reject_overlapping_periods": True,
    # Status for a token lacking the endpoint's scope: 401 was observed live on /v2/persons.
    "missing_scope_status": 401,
    # Whether a v1 token (POST /v1/auth) is accepted on /v2 endpoints.
    "accept_v1_tokens_on_v2": False,
    # "absolute" or "relative" hrefs in _meta.links.
    "pagination_links": "absolute",
    "max_limit": {"persons": 50, "absence-types": 100, "absence-periods": 100},
    "default_limit": {"persons": 10, "absence-types": 100, "absence-periods": 100},
    "rate_limits": {
        # Off by default so that test suites and seeding are never throttled by surprise; the
        # x-ratelimit-* headers are sent either way.
        "enabled": False,
        # Body of a rate-limit 429: "v2" (the v2 error envelope) or "empty" (Spring Cloud
        # Gateway's default); the real body is undocumented.
        "body": "v2",
        # Token buckets (Spring Cloud Gateway): replenish_rate tokens per second, burst_capacity
        # tokens at most, one token per request. Observed by a peer: persons ~30/s,
        # absence-periods ~10/s. auth: 60/min as documented for /v1/auth.
        "buckets": {
            "auth": {"replenish_rate": 1, "burst_capacity": 60},
            "persons": {"replenish_rate": 30, "burst_capacity": 30},
            "absence-types": {"replenish_rate": 10, "burst_capacity": 10},
            "absence-periods": {"replenish_rate": 10, "burst_capacity": 10},
        },
    },
}

_CHOICES: dict[str, tuple[Any, ...]] = {
    "day_end_boundary": ("exclusive", "inclusive"),
    "date_filter_semantics": ("overlap", "literal"),
    "open_ended_in_filters": ("never_ends", "excluded"),
    "breakdown_weekends": ("zero", "omit"),
    "person_date_filters": ("date_time", "date_only"),
    "missing_scope_status": (401, 403),
    "pagination_links": ("absolute", "relative"),
}
_BOOLEANS = ("reject_overlapping_periods", "accept_v1_tokens_on_v2")


class SettingsError(ValueError):
    """An invalid settings update."""


def _merge(base: dict[str, Any], update: dict[str, Any], where: str) -> None:
    for key, value in update.items():
        if key not in base:
            raise SettingsError(f"unknown setting {where}{key!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise SettingsError(f"setting {where}{key!r} must be an object")
            _merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = value


def validate(settings: dict[str, Any]) -> None:
    """Raise ``SettingsError`` when a value is out of range."""
    for key, choices in _CHOICES.items():
        if settings[key] not in choices:
            raise SettingsError(f"{key!r} must be one of {list(choices)}")
    for key in _BOOLEANS:
        if not isinstance(settings[key], bool):
            raise SettingsError(f"{key!r} must be true or false")
    for group in GROUPS:
        for name in ("max_limit", "default_limit"):
            value = settings[name][group]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettingsError(f"'{name}.{group}' must be a positive integer")
        if settings["default_limit"][group] > settings["max_limit"][group]:
            raise SettingsError(f"'default_limit.{group}' exceeds 'max_limit.{group}'")
    limits = settings["rate_limits"]
    if not isinstance(limits["enabled"], bool):
        raise SettingsError("'rate_limits.enabled' must be true or false")
    if limits["body"] not in ("v2", "empty"):
        raise SettingsError("'rate_limits.body' must be 'v2' or 'empty'")
    for group in RATE_GROUPS:
        bucket = limits["buckets"][group]
        for name in ("replenish_rate", "burst_capacity"):
            value = bucket[name]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise SettingsError(f"'rate_limits.buckets.{group}.{name}' must be positive")


class Settings:
    """The current switches, persisted in the store (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        saved = store.get(ADMIN_TENANT, "settings", "global")
        self._values = copy.deepcopy(DEFAULT_SETTINGS)
        if saved:
            try:
                _merge(self._values, saved, "")
                validate(self._values)
            except SettingsError:
                self._values = copy.deepcopy(DEFAULT_SETTINGS)

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of all settings."""
        with self._lock:
            return copy.deepcopy(self._values)

    def get(self, key: str) -> Any:
        """Return one top-level setting (do not mutate nested values)."""
        with self._lock:
            return self._values[key]

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes``, validate and persist; returns the new settings."""
        with self._lock:
            candidate = copy.deepcopy(self._values)
            _merge(candidate, changes, "")
            validate(candidate)
            self._values = candidate
            self._store.put(ADMIN_TENANT, "settings", "global", candidate)
            return copy.deepcopy(candidate)

    def reset(self) -> None:
        """Restore the defaults (the store itself is reset by the caller)."""
        with self._lock:
            self._values = copy.deepcopy(DEFAULT_SETTINGS)
