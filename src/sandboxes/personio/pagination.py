"""v2 cursor pagination: ``limit``, an opaque ``cursor`` that carries the filters, and the list
envelope ``{"_data": [...], "_meta": {"links": {"self": {...}, "next": {...}}}}``.

Records are listed in creation order (their ``seq``); a cursor remembers the filters and the
``seq`` of the last record served, so records created or deleted meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from sandboxes.personio.errors import ApiError
from sandboxes.personio.settings import Settings

CURSOR_PREFIX = "cur_"


@dataclass(frozen=True)
class PageRequest:
    """What one list request asks for."""

    group: str
    limit: int
    after: int  # seq of the last record of the previous page (0: first page)
    filters: dict[str, list[str]]


def parse_limit(request: Request, group: str, settings: Settings) -> int:
    """Return the requested page size; raises a 400 ``ApiError`` outside 1..max."""
    maximum = settings.get("max_limit")[group]
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return int(settings.get("default_limit")[group])
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"The limit must be an integer between 1 and {maximum}.") from None
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"The limit must be between 1 and {maximum}; got {limit}.")
    return limit


def encode_cursor(group: str, filters: dict[str, list[str]], after: int) -> str:
    """Return an opaque cursor for the page after ``after``."""
    raw = json.dumps({"g": group, "f": filters, "a": after}, separators=(",", ":"))
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, group: str) -> tuple[dict[str, list[str]], int]:
    """Return (filters, after) of a cursor; raises a 400 ``ApiError`` when it is not ours."""
    invalid = ApiError(400, "The pagination cursor is invalid.", code="common.invalid_cursor")
    if not cursor.startswith(CURSOR_PREFIX):
        raise invalid
    payload = cursor[len(CURSOR_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if (
        not isinstance(data, dict)
        or data.get("g") != group
        or not isinstance(data.get("a"), int)
        or not isinstance(data.get("f"), dict)
    ):
        raise invalid
    filters = data["f"]
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in filters.values()):
        raise invalid
    return filters, data["a"]


def read_page_request(request: Request, group: str, filter_names: Iterable[str], settings: Settings) -> PageRequest:
    """Return the page request: the cursor's filters if a cursor is given, else the query's."""
    limit = parse_limit(request, group, settings)
    cursor = request.query_params.get("cursor")
    if cursor:
        filters, after = decode_cursor(cursor, group)
        return PageRequest(group, limit, after, filters)
    names = set(filter_names)
    filters: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key in names:
            if not value.strip():  # Personio validates filter values; an empty one is no filter
                raise ApiError(400, f"The filter {key} needs a value.")
            filters.setdefault(key, []).append(value)
    return PageRequest(group, limit, 0, filters)


def take_page(records: Sequence[dict[str, Any]], page: PageRequest) -> tuple[list[dict[str, Any]], int | None]:
    """Return (the page's records, the ``seq`` to continue after or None on the last page).

    ``records`` must be sorted by ``seq`` and already filtered.
    """
    start = 0
    if page.after:
        # Binary search: records are sorted by seq.
        lo, hi = 0, len(records)
        while lo < hi:
            mid = (lo + hi) // 2
            if records[mid]["seq"] <= page.after:
                lo = mid + 1
            else:
                hi = mid
        start = lo
    chunk = list(records[start : start + page.limit])
    more = start + page.limit < len(records)
    return chunk, (chunk[-1]["seq"] if more and chunk else None)


def link(request: Request, path: str, query: dict[str, Any] | str, settings: Settings) -> str:
    """Return an absolute or relative href (per the ``pagination_links`` switch)."""
    qs = query if isinstance(query, str) else urlencode(query)
    relative = path + (f"?{qs}" if qs else "")
    if settings.get("pagination_links") == "relative":
        return relative
    return str(request.base_url).rstrip("/") + relative


def list_body(
    request: Request, data: list[dict[str, Any]], page: PageRequest, next_after: int | None, settings: Settings
) -> dict[str, Any]:
    """Return the v2 list envelope with ``self`` and, unless this is the last page, ``next``."""
    path = request.url.path
    links: dict[str, Any] = {"self": {"href": link(request, path, request.url.query, settings)}}
    if next_after is not None:
        cursor = encode_cursor(page.group, page.filters, next_after)
        links["next"] = {"href": link(request, path, {"cursor": cursor, "limit": page.limit}, settings)}
    return {"_data": data, "_meta": {"links": links}}
