"""Reading client-sent entity bodies: type checks per property, and PUT replace/merge semantics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandboxes.hq.errors import bad_request
from sandboxes.hq.model import EntityType, Record
from sandboxes.hq.timeutil import normalize_date, normalize_on

Converter = Callable[[str, Any], Any]


def as_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise bad_request(f"The property '{name}' must be a string.")


def as_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise bad_request(f"The property '{name}' must be an integer.")
    return int(value)


def as_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"The property '{name}' must be a number.")
    return float(value)


def as_bool(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise bad_request(f"The property '{name}' must be true or false.")


def as_on(name: str, value: Any) -> str | None:
    """A UTC date-time (``...On``); a value without offset counts as UTC."""
    if value is None:
        return None
    try:
        return normalize_on(value)
    except (ValueError, TypeError):
        raise bad_request(f"The property '{name}' must be an ISO 8601 date-time.") from None


def as_date(name: str, value: Any) -> str | None:
    """A date-only value (``...Date``): local midnight, never converted between time zones."""
    if value is None:
        return None
    try:
        return normalize_date(value)
    except (ValueError, TypeError):
        raise bad_request(f"The property '{name}' must be an ISO 8601 date.") from None


def enum(values: Iterable[str]) -> Converter:
    allowed = tuple(values)

    def convert(name: str, value: Any) -> str | None:
        if value is None:
            return None
        if value not in allowed:
            raise bad_request(f"'{value}' is not a valid value for '{name}'; valid: {', '.join(allowed)}.")
        return str(value)

    return convert


def check_known(body: dict[str, Any], etype: EntityType) -> None:
    """Raises 400 for properties the entity type does not have (OData rejects unknown ones)."""
    for key in body:
        if key.startswith("@odata") or key.startswith("@"):
            continue
        if not etype.has(key):
            raise bad_request(f"The property '{key}' does not exist on type 'HQ.{etype.name}'.")


def apply(
    record: Record,
    body: dict[str, Any],
    writable: dict[str, Converter],
    *,
    replace: bool,
    defaults: dict[str, Any] | None = None,
) -> Record:
    """Copies the writable properties of ``body`` into ``record``.

    ``replace`` (PUT as a full replace, and every create) resets omitted writable properties to
    their default (null unless ``defaults`` says otherwise); otherwise omitted ones are kept.
    Read-only properties in the body (Id, audit fields, computed values) are ignored.
    """
    defaults = defaults or {}
    for name, convert in writable.items():
        if name in body:
            value = convert(name, body[name])
            record[name] = defaults.get(name) if value is None and name in defaults else value
        elif replace:
            record[name] = defaults.get(name)
    return record


def require(body: dict[str, Any], *names: str) -> None:
    """Raises 400 naming the first missing (or null/empty) required property."""
    for name in names:
        if body.get(name) in (None, ""):
            raise bad_request(f"The property '{name}' is required.")
