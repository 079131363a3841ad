"""Does awork's ``GET /timeentries`` honour ``filterby`` and ``orderby``? (issue #10)

The incremental read asks for ``updatedOn ge datetime'…'`` ordered by ``updatedOn``. awork.md marks
that as unconfirmed for this endpoint (§9.5), and awork silently ignores what an endpoint does not
support (§1): a read that trusted it would stage everything (filter ignored) or, worse, skip
entries while paging by a cursor (order ignored). So the sync checks instead of trusting:

- ``check_query_support`` returns a ``QuerySupport``: three one-item requests tell whether the
  endpoint filters (a filter no entry can match must come back empty) and orders (the
  newest-first and oldest-first reads must start with different entries);
- ``check_keyset_page`` (called by ``AworkClient.pages_updated_since`` on every page) raises
  ``QueryIgnoredError`` as soon as a page holds an entry older than the cursor or out of order;
- ``pages_changed_since_full_read`` returns the fallback's pages: page by page in the server's own
  order, with the filter applied here (and on the server only when it honours it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hq_sync.clients.awork.literals import datetime_literal
from hq_sync.clients.http import ApiError
from hq_sync.timeutil import parse_awork_timestamp

if TYPE_CHECKING:
    from hq_sync.clients.awork.client import AworkClient

Page = list[dict[str, Any]]  # one page of awork objects

parse_moment = parse_awork_timestamp  # the name this module gave it before hq_sync.timeutil held it


class QuerySupport(StrEnum):
    """Which of ``filterby`` / ``orderby`` a list endpoint honours."""

    HONOURED = "honoured"
    FILTER_IGNORED = "filter_ignored"
    ORDER_IGNORED = "order_ignored"
    IGNORED = "ignored"

    @classmethod
    def of(cls, filter_honoured: bool, order_honoured: bool) -> QuerySupport:
        """The member for the two observations."""
        if filter_honoured:
            return cls.HONOURED if order_honoured else cls.ORDER_IGNORED
        return cls.FILTER_IGNORED if order_honoured else cls.IGNORED

    @property
    def filter_honoured(self) -> bool:
        return self in (QuerySupport.HONOURED, QuerySupport.ORDER_IGNORED)

    @property
    def order_honoured(self) -> bool:
        return self in (QuerySupport.HONOURED, QuerySupport.FILTER_IGNORED)

    def worse(self, other: QuerySupport) -> QuerySupport:
        """What is known when both observations hold (an ignored part stays ignored)."""
        return QuerySupport.of(
            self.filter_honoured and other.filter_honoured, self.order_honoured and other.order_honoured
        )

    def describe(self, path: str = "/timeentries") -> str:
        """One sentence for logs and reports."""
        if self is QuerySupport.HONOURED:
            return f"awork honours filterby and orderby on {path}"
        ignored = {
            QuerySupport.FILTER_IGNORED: "filterby",
            QuerySupport.ORDER_IGNORED: "orderby",
            QuerySupport.IGNORED: "filterby and orderby",
        }[self]
        return f"awork ignores {ignored} on {path}"


class QueryIgnoredError(ApiError):
    """A keyset read got entries its filter or order rules out: the server ignored them."""

    def __init__(self, support: QuerySupport, detail: str) -> None:
        super().__init__(f"{support.describe()}: {detail}")
        self.support = support


def check_query_support(client: AworkClient, path: str = "/timeentries") -> QuerySupport:
    """Three one-item requests: does ``path`` filter and order as asked? Undecidable parts (an
    empty workspace, a single entry) count as honoured: the keyset read still watches."""
    future = datetime.now(UTC) + timedelta(days=3660)
    impossible = client.first_items(path, filterby=f"updatedOn ge {datetime_literal(future)}", orderby=None)
    filter_honoured = not impossible
    newest = client.first_items(path, filterby=None, orderby="updatedOn desc,id desc")
    oldest = client.first_items(path, filterby=None, orderby="updatedOn asc,id asc")
    order_honoured = True
    if newest and oldest and newest[0].get("id") != oldest[0].get("id"):
        newest_at = parse_awork_timestamp(newest[0].get("updatedOn")) or future
        oldest_at = parse_awork_timestamp(oldest[0].get("updatedOn")) or future
        order_honoured = newest_at >= oldest_at
    elif newest and oldest:  # the same first entry both ways: ignored, unless there is only one entry
        order_honoured = client.first_items(path, filterby=None, orderby=None, page=2) == []
    return QuerySupport.of(filter_honoured, order_honoured)


def check_keyset_page(items: Page, cursor: datetime) -> None:
    """Raise ``QueryIgnoredError`` when a keyset page proves the filter or the order ignored: an
    entry changed before the cursor (whole seconds), or one that changed before its predecessor."""
    previous: datetime | None = None
    for item in items:
        moment = parse_awork_timestamp(item.get("updatedOn"))
        if moment is None:
            continue
        moment = moment.replace(microsecond=0)
        if moment < cursor:
            detail = f"entry {item.get('id')} changed {item.get('updatedOn')}, before the cursor {cursor.isoformat()}"
            raise QueryIgnoredError(QuerySupport.FILTER_IGNORED, detail)
        if previous is not None and moment < previous:
            detail = f"entry {item.get('id')} ({item.get('updatedOn')}) came after a later change"
            raise QueryIgnoredError(QuerySupport.ORDER_IGNORED, detail)
        previous = moment


def pages_changed_since_full_read(
    client: AworkClient,
    path: str,
    since: datetime,
    support: QuerySupport,
    *,
    params: Mapping[str, Any] | None = None,
) -> Iterator[Page]:
    """Entries changed at/after ``since``, read page by page in the server's own order (no
    cursor jumps, so an ignored order cannot make the read skip anything); the filter is sent when
    the server honours it and applied here either way. Without a working filter this reads the
    whole endpoint."""
    bound = since.astimezone(UTC).replace(microsecond=0)
    filterby = f"updatedOn ge {datetime_literal(bound)}" if support.filter_honoured else None
    orderby = "createdOn asc,id asc" if support.order_honoured else None
    for page in client.pages(path, filterby=filterby, orderby=orderby, params=params):
        kept = [item for item in page if (parse_awork_timestamp(item.get("updatedOn")) or bound) >= bound]
        if kept:
            yield kept
