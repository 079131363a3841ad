"""Helpers shared by the awork routes: request bodies, form validation, entity look-ups."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandboxes.awork.clock import is_guid, parse_dt
from sandboxes.awork.errors import AworkError, not_found, validation_failed
from sandboxes.awork.state import TIME_ENTRIES, Ctx

Record = dict[str, Any]


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The JSON body; awork's 400 answers for a missing or malformed body."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise validation_failed([("", "A non-empty request body is required.")])
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise validation_failed([("$", "The JSON value could not be converted.")]) from None


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


class Form:
    """Reads one JSON object the way ASP.NET binds a form: property names match
    case-insensitively, unknown properties are ignored, type errors are collected and raised
    together as ``validation-failed``."""

    def __init__(self, body: Any, model: str = "form") -> None:
        if not isinstance(body, dict):
            raise validation_failed([("$", f"The {model} must be a JSON object.")])
        self.body = body
        self._keys = {k.lower(): k for k in body}
        self.errors: list[tuple[str, str]] = []

    def has(self, name: str) -> bool:
        return name.lower() in self._keys

    def raw(self, name: str) -> Any:
        key = self._keys.get(name.lower())
        return None if key is None else self.body[key]

    def _error(self, name: str, message: str) -> None:
        self.errors.append((_pascal(name), message))

    def string(
        self, name: str, *, required: bool = False, max_length: int | None = None, min_length: int = 0
    ) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self._error(name, f"'{_pascal(name)}' must not be empty.")
            return None
        if not isinstance(value, str):
            self._error(name, f"'{_pascal(name)}' must be a string.")
            return None
        if required and not value.strip():
            self._error(name, f"'{_pascal(name)}' must not be empty.")
        elif len(value) < min_length:
            self._error(name, f"'{_pascal(name)}' must be at least {min_length} characters long.")
        if max_length is not None and len(value) > max_length:
            self._error(name, f"'{_pascal(name)}' must be {max_length} characters or fewer.")
        return value

    def guid(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self._error(name, f"'{_pascal(name)}' must not be empty.")
            return None
        if not is_guid(value):
            self._error(name, f"The value '{value}' is not a valid GUID.")
            return None
        return str(value).lower()

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._error(name, f"'{_pascal(name)}' must be true or false.")
            return default
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None:
            if required:
                self._error(name, f"'{_pascal(name)}' must not be empty.")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                self._error(name, f"'{_pascal(name)}' must be a whole number.")
                return None
        if not -(2**31) <= value < 2**31:
            self._error(name, f"'{_pascal(name)}' is out of range.")
            return None
        if minimum is not None and value < minimum:
            self._error(name, f"'{_pascal(name)}' must be greater than or equal to '{minimum}'.")
        return value

    def number(self, name: str) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._error(name, f"'{_pascal(name)}' must be a number.")
            return None
        return float(value)

    def datetime(self, name: str) -> str | None:
        """A date-time normalised to ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
        value = self.raw(name)
        if value is None:
            return None
        dt = parse_dt(value) if isinstance(value, str) else None
        if dt is None:
            self._error(name, f"The value '{value}' is not a valid date-time.")
            return None
        # isoformat pads years before 1000 to four digits (strftime's %Y does not on glibc).
        return dt.replace(tzinfo=None, microsecond=0).isoformat() + "Z"

    def array(self, name: str) -> list[Any] | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self._error(name, f"'{_pascal(name)}' must be an array.")
            return None
        return value

    def check(self) -> None:
        """Raise ``validation-failed`` if any property was wrong."""
        if self.errors:
            raise validation_failed(self.errors)


def guid_list(body: Any, prop: str = "$") -> list[str]:
    """A JSON array of GUID strings (lower-cased); validation error otherwise."""
    if not isinstance(body, list) or not all(is_guid(x) for x in body):
        raise validation_failed([(prop, "An array of GUIDs is required.")])
    return [str(x).lower() for x in body]


def require(ctx: Ctx, kind: str, rid: str | None, what: str) -> Record:
    """A copy of the tenant's record or awork's 404 (a malformed id is also not found)."""
    rec = ctx.get(kind, rid) if rid and is_guid(rid) else None
    if rec is None:
        raise not_found(what)
    return rec


def require_ref(ctx: Ctx, kind: str, rid: str | None, what: str) -> Record:
    """A record referenced from a request body (the id itself was validated already)."""
    rec = ctx.get(kind, rid)
    if rec is None:
        raise AworkError(404, "not-found", f"The {what.lower()} with the id '{rid}' was not found.")
    return rec


def no_content() -> Response:
    """204 without a body."""
    return Response(status_code=204)


def touch_time_entries(ctx: Ctx, which: Callable[[Record], bool]) -> int:
    """With ``touch_time_entries_on_parent_change`` on, bump updatedOn of the time entries
    ``which`` selects (their embedded project/task/type changed); returns how many."""
    if not ctx.settings["touch_time_entries_on_parent_change"]:
        return 0
    changed = [dict(e) for e in ctx.all(TIME_ENTRIES) if which(e)]
    for entry in changed:
        ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    return len(changed)
