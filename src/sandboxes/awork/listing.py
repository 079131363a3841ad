"""List endpoints: ``page``/``pageSize``, ``filterby``/``orderby`` and the ``aw-*`` headers.

Query-parameter names match case-insensitively (ASP.NET model binding), unknown parameters are
ignored. Lists answer a bare JSON array.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandboxes.awork.errors import invalid_filter, validation_failed
from sandboxes.awork.filters import FilterError, Schema, compile_filter, compile_order, sort_records

Record = dict[str, Any]


def query(request: Request) -> dict[str, str]:
    """The query parameters with lower-cased names (the first value wins)."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name.lower(), value)
    return params


def flag(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean query parameter (``showArchived=true``); a bad value is a validation error."""
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise validation_failed([(name, f"The value '{raw}' is not valid.")])


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer, serialised once (faster than FastAPI's encoder on big pages)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(payload, status_code=status, headers=headers, media_type="application/json")


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_failed([(name, f"The value '{raw}' is not valid.")]) from None


def paged_list(
    request: Request,
    records: Iterable[Record],
    *,
    schema: Schema,
    render: Callable[[Record], Record],
    settings: Mapping[str, Any],
    stored_fields: Iterable[str] | None = None,
    me_id: str | None = None,
    ignored: Iterable[str] = (),
) -> Response:
    """Filter, order and page ``records``; answers the rendered page with the ``aw-*`` headers.

    ``stored_fields``: the properties the raw records carry as rendered. When the expressions
    read only those, filtering and sorting run on the raw records and only the page is rendered
    (this keeps a 1000-item page of 15k time entries fast); otherwise everything is rendered first.
    ``ignored``: query parameters dropped unread, as awork drops the ones an endpoint lacks.
    """
    params = query(request)
    for name in ignored:  # parameters this endpoint silently does not support (a switch)
        params.pop(name.lower(), None)
    page = _int_param(params, "page", 1)
    page_size = _int_param(params, "pageSize", int(settings["default_page_size"]))
    maximum = int(settings["max_page_size"])
    if page < 1:
        page = 1
    if page_size < 1:
        raise validation_failed([("PageSize", "'Page Size' must be greater than '0'.")])
    if page_size > maximum:
        if settings["page_size_over_max"] == "error":
            raise validation_failed([("PageSize", f"'Page Size' must be less than or equal to '{maximum}'.")])
        page_size = maximum

    ci = bool(settings["filter_strings_case_insensitive"])
    try:
        flt = (
            compile_filter(
                params["filterby"],
                schema,
                me_id=me_id,
                case_insensitive=ci,
                strict_types=bool(settings["strict_filter_types"]),
            )
            if params.get("filterby", "").strip()
            else None
        )
        order = compile_order(params["orderby"], schema) if params.get("orderby", "").strip() else []
    except FilterError as exc:
        raise invalid_filter(str(exc)) from None

    used = set(flt.fields if flt else ()) | {k.field for k in order}
    raw_ok = stored_fields is not None and used <= set(stored_fields)
    items: list[Record] = list(records) if raw_ok else [render(r) for r in records]
    if flt is not None:
        predicate = flt.predicate
        items = [r for r in items if predicate(r)]
    if order:
        sort_records(items, order, case_insensitive=ci)
    total = len(items)
    start = (page - 1) * page_size
    window = items[start : start + page_size]
    body = [render(r) for r in window] if raw_ok else window
    headers = {
        "aw-page": str(page),
        "aw-pagesize": str(page_size),
        "aw-items": str(len(body)),
        "aw-totalitems": str(total),
    }
    return json_response(body, headers=headers)
