"""OData query options for HQ's v1 collections and entities: ``$filter $orderby $top $skip $count
$select $expand``, the ``{"@odata.context", "value", "@odata.count", "@odata.nextLink"}`` envelope,
and the projection of stored records into what a client sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sandboxes.hq.model import EntityType, Record, View, entity
from sandboxes.hq.odata_filter import (
    T_DT,
    T_STR,
    CompiledFilter,
    FilterError,
    compile_filter,
    compile_path,
)
from sandboxes.hq.settings import TenantSettings
from sandboxes.hq.timeutil import comparable

COLLECTION_OPTIONS = {"$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand"}
ENTITY_OPTIONS = {"$select", "$expand"}


@dataclass
class SortKey:
    getter: Callable[[Record], Any]
    descending: bool


@dataclass
class QueryOptions:
    """Parsed, validated query options for one entity type."""

    etype: EntityType
    filter: CompiledFilter | None = None
    orderby: list[SortKey] = field(default_factory=list)
    top: int | None = None
    skip: int = 0
    count: bool = False
    select: list[str] | None = None
    expand: list[QueryOptions] = field(default_factory=list)
    nav: str | None = None  # for an expand item: the navigation property it expands
    view_box: list[View | None] = field(default_factory=lambda: [None])

    def bind(self, view: View) -> None:
        """Lets filters and sort keys resolve navigations through ``view``."""
        self.view_box[0] = view
        for item in self.expand:
            item.bind(view)


def parse_options(
    params: Mapping[str, str], etype: EntityType, settings: TenantSettings, collection: bool = True
) -> QueryOptions:
    """Parses the ``$`` query options of a request; raises a 400 HQError for invalid ones.

    Options not meant for single entities ($filter, $top, ...) are ignored there.
    """
    allowed = COLLECTION_OPTIONS if collection else ENTITY_OPTIONS
    for name in params:
        if name.startswith("$") and name not in COLLECTION_OPTIONS:
            raise FilterError(f"The query parameter '{name}' is not supported.")
    opts = {k: v for k, v in params.items() if k in allowed}
    return _build(opts, etype, settings, top_level=True, depth=0)


def _build(
    opts: Mapping[str, str], etype: EntityType, settings: TenantSettings, top_level: bool, depth: int
) -> QueryOptions:
    query = QueryOptions(etype)
    ci = settings.string_compare == "case_insensitive"
    if "$expand" in opts:
        query.expand = _parse_expand(opts["$expand"], etype, settings, depth)
    if "$select" in opts:
        query.select = _parse_select(opts["$select"], etype)
    if "$filter" in opts:
        expanded = frozenset(item.nav for item in query.expand if item.nav)
        text = opts["$filter"]
        query.filter = compile_filter(
            text,
            etype,
            case_insensitive=ci,
            requires_expand=settings.filter_requires_expand and top_level,
            expanded=expanded,
        )
    if "$orderby" in opts:
        query.orderby = _parse_orderby(opts["$orderby"], etype, query.view_box, ci)
    if "$top" in opts:
        top = _non_negative_int("$top", opts["$top"])
        if top > settings.max_top:
            if settings.top_over_max == "error":
                raise FilterError(
                    f"The limit of '{settings.max_top}' for Top query has been exceeded. "
                    f"The value from the incoming request is '{top}'."
                )
            top = settings.max_top
        query.top = top
    if "$skip" in opts:
        query.skip = _non_negative_int("$skip", opts["$skip"])
    if "$count" in opts:
        value = opts["$count"].strip().lower()
        if value not in ("true", "false"):
            raise FilterError(f"'{opts['$count']}' is not a valid value for $count (true or false).")
        query.count = value == "true"
    return query


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise FilterError(f"'{raw}' is not a valid value for {name}: expected a non-negative integer.") from None
    if value < 0:
        raise FilterError(f"'{raw}' is not a valid value for {name}: expected a non-negative integer.")
    return value


def _split_top_level(text: str, sep: str) -> list[str]:
    """Splits on ``sep`` outside parentheses and quotes."""
    parts, depth, current, quoted = [], 0, [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise FilterError(f"Unbalanced parentheses in '{text}'.")
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if depth != 0:
        raise FilterError(f"Unbalanced parentheses in '{text}'.")
    parts.append("".join(current))
    return parts


def _parse_select(text: str, etype: EntityType) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise FilterError("$select is empty.")
    if "*" in names:
        return list(etype.properties)
    for name in names:
        if not etype.has(name):
            raise FilterError(f"Could not find a property named '{name}' on type 'HQ.{etype.name}'.")
    return names


def _parse_expand(text: str, etype: EntityType, settings: TenantSettings, depth: int) -> list[QueryOptions]:
    items: list[QueryOptions] = []
    for part in _split_top_level(text, ","):
        part = part.strip()
        if not part:
            raise FilterError(f"Empty item in $expand '{text}'.")
        name, inner = part, ""
        if "(" in part:
            name, inner = part.split("(", 1)
            if not inner.endswith(")"):
                raise FilterError(f"Syntax error in $expand item '{part}'.")
            inner = inner[:-1]
        name = name.strip()
        nav = etype.navs.get(name)
        if nav is None:
            kind = "a navigation property" if name in etype.properties else "a property"
            raise FilterError(f"Could not find {kind} named '{name}' to expand on type 'HQ.{etype.name}'.")
        if depth >= 2:
            raise FilterError("$expand supports at most two levels (e.g. Positions($expand=CustomFields)).")
        nested: dict[str, str] = {}
        for option in _split_top_level(inner, ";") if inner else []:
            key, sep, value = option.partition("=")
            key = key.strip()
            if not sep or key not in COLLECTION_OPTIONS:
                raise FilterError(f"Unsupported option '{option}' in $expand item '{name}'.")
            nested[key] = value
        target = entity(nav.target)
        item = _build(nested, target, settings, top_level=False, depth=depth + 1)
        if not nav.many and any(target.navs[i.nav].many for i in item.expand if i.nav):
            # HQ's README: expanding across mixed cardinality (Projects -> Company -> CustomFields) fails.
            raise FilterError(
                f"Expanding '{name}' and then a collection below it mixes cardinalities, which HQ does not support."
            )
        item.nav = name
        items.append(item)
    return items


def _parse_orderby(text: str, etype: EntityType, view_box: list[View | None], ci: bool) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FilterError(f"Syntax error in $orderby item '{part.strip()}': expected 'Property [asc|desc]'.")
        compiled = compile_path(words[0], etype, view_box, ci)
        fn, category = compiled.fn, compiled.type

        def getter(rec: Record, fn: Any = fn, category: str = category, words: list[str] = words) -> Any:
            value = fn(rec, {})
            if isinstance(value, dict | list):
                raise FilterError(f"$orderby needs a property, not the navigation '{words[0]}'.")
            if category == T_DT and isinstance(value, str):
                return comparable(value)
            if category == T_STR and ci and isinstance(value, str):
                return value.casefold()
            return value

        keys.append(SortKey(getter, len(words) == 2 and words[1].lower() == "desc"))
    return keys


# -- applying --------------------------------------------------------------------------------------
def _sort(records: list[Record], keys: list[SortKey]) -> list[Record]:
    """Sorts stably by ``keys`` (nulls first ascending, like SQL Server)."""
    for key in reversed(keys):
        get = key.getter
        records.sort(key=lambda r: (0, 0) if get(r) is None else (1, get(r)), reverse=key.descending)
    return records


def select_records(records: Iterable[Record], query: QueryOptions, view: View) -> tuple[list[Record], int]:
    """Filters and sorts; returns all matches (shared records) and their count."""
    query.bind(view)
    if query.filter is not None:
        predicate = query.filter.bind(view)
        matches = [r for r in records if predicate(r)]
    else:
        matches = list(records)
    if query.orderby:
        matches = _sort(matches, query.orderby)
    elif matches and "Id" in matches[0]:
        matches.sort(key=lambda r: r["Id"])
    return matches, len(matches)


def shape(rec: Record, query: QueryOptions, view: View) -> dict[str, Any]:
    """Returns what a client sees of one record: selected properties plus expanded navigations."""
    etype = query.etype
    names = query.select or list(etype.properties)
    out = {name: rec.get(name) for name in names if name in etype.properties}
    for item in query.expand:
        nav = etype.navs[item.nav or ""]
        value = nav.resolve(view, rec)
        if nav.many:
            children, _ = select_records(value or [], item, view)
            if item.skip:
                children = children[item.skip :]
            if item.top is not None:
                children = children[: item.top]
            out[item.nav or ""] = [shape(child, item, view) for child in children]
        else:
            out[item.nav or ""] = shape(value, item, view) if value is not None else None
    return out


def collection_envelope(
    records: Iterable[Record],
    query: QueryOptions,
    view: View,
    settings: TenantSettings,
    context_url: str,
    request_url: str,
    params: Mapping[str, str],
) -> dict[str, Any]:
    """Runs the query over ``records`` and returns HQ's collection envelope.

    Server-driven paging (``settings.server_page_size``) cuts a page short and adds an
    ``@odata.nextLink`` carrying the next ``$skip`` (and the remaining ``$top``).
    """
    matches, total = select_records(records, query, view)
    start = query.skip
    limit = query.top
    page_size = settings.server_page_size
    next_link = None
    remaining = total - start
    take = remaining if limit is None else min(limit, max(remaining, 0))
    if page_size is not None and take > page_size:
        take = page_size
        more = dict(params)
        more["$skip"] = str(start + page_size)
        if limit is not None:
            more["$top"] = str(limit - page_size)
        if settings.next_link:  # off: the page just ends early (the client must page on by itself)
            next_link = f"{request_url}?{urlencode(more)}"
    page = matches[start : start + max(take, 0)]
    body: dict[str, Any] = {"@odata.context": context_url}
    if query.count and settings.honour_count:
        body["@odata.count"] = total
    body["value"] = [shape(rec, query, view) for rec in page]
    if next_link:
        body["@odata.nextLink"] = next_link
    return body
