"""The old home of ``hq_sync.clients.awork.query`` (whether awork's ``/timeentries`` honours
filterby and orderby); its names stay importable from here."""

from __future__ import annotations

from hq_sync.clients.awork.query import (
    Page,
    QueryIgnoredError,
    QuerySupport,
    check_keyset_page,
    check_query_support,
    pages_changed_since_full_read,
    parse_moment,
)

__all__ = [
    "Page",
    "QueryIgnoredError",
    "QuerySupport",
    "check_keyset_page",
    "check_query_support",
    "pages_changed_since_full_read",
    "parse_moment",
]
