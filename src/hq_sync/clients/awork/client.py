"""The awork API v1 client (``AworkClient``): ``page``/``pageSize`` paging, keyset reads of what
changed, a request budget well below the workspace rate limit.

``docs/awork-client.md`` explains the choices; the contract is ``../shared/api/awork.md`` (cited as
§n). List methods return generators of *pages* (``Page``: lists of awork objects, at most
``page_size`` each), so a caller can stage each page before the next one is fetched and memory
stays flat; single reads return the object as a ``dict`` or None when awork answers 404.

Nothing secret is logged: no API key or token; the HTTP base logs method, path (no query),
status and duration only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict, Unpack

import requests

from hq_sync.clients.auth import BearerAuth
from hq_sync.clients.awork.auth import AworkApiKey
from hq_sync.clients.awork.budget import (
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_RESERVE_FRACTION,
    RequestBudget,
    retry_after,
    workspace_pause,
)
from hq_sync.clients.awork.literals import all_of, any_of, datetime_literal, guid_literal
from hq_sync.clients.awork.query import (
    Page,
    QuerySupport,
    check_keyset_page,
    check_query_support,
    pages_changed_since_full_read,
)
from hq_sync.clients.budget import Budget
from hq_sync.clients.http import ClientError, HttpClient, RetryPolicy, header_int
from hq_sync.timeutil import parse_awork_timestamp

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000  # §3: awork never serves more per page
DEFAULT_ORDER = "createdOn asc"  # awork's default order is unspecified (§3): page in a stable one
KEYSET_ORDER = "updatedOn asc,id asc"
# projects per count request (filterby "projectId eq … or …"): keeps the URL far below common limits
COUNT_PROJECTS_PER_REQUEST = 40


class ListOptions(TypedDict, total=False):
    """What every list method passes on to ``AworkClient.pages``: a ``filterby`` condition, the
    ``orderby`` (default ``createdOn asc``; None sends none) and the page size (at most 1000)."""

    filterby: str | None
    orderby: str | None
    page_size: int


class AworkClient(HttpClient):
    """awork API v1 (``base_url`` like ``https://api.awork.com/api/v1``).

    ``auth``: an ``AworkApiKey`` (or the key as a ``str``) or ``AworkOAuthTokens``. Every attempt,
    retries included, spends from ``budget`` (default: an in-process ``RequestBudget`` of
    ``requests_per_minute`` / ``requests_per_second``); when awork's headers say the workspace
    window is nearly spent (the last ``reserve_fraction``), the client waits for the next one.
    """

    vendor = "awork"
    auth: BearerAuth

    def __init__(
        self,
        base_url: str,
        auth: BearerAuth | str,
        *,
        requests_per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        requests_per_second: int | None = DEFAULT_REQUESTS_PER_SECOND,
        budget: Budget | None = None,
        reserve_fraction: float = DEFAULT_RESERVE_FRACTION,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        budget = budget or RequestBudget(requests_per_minute, requests_per_second, clock=clock, sleep=sleep)
        credentials = AworkApiKey(auth) if isinstance(auth, str) else auth
        super().__init__(
            base_url, retry=retry, session=session, sleep=sleep, headers=headers, budget=budget, auth=credentials
        )
        self.reserve_fraction = reserve_fraction
        self.last_total_items: int | None = None

    # -- hooks ---------------------------------------------------------------------------------
    def _retry_after(self, resp: requests.Response) -> float | None:
        return retry_after(resp)

    def _pace(self, resp: requests.Response) -> None:
        """When the workspace window is nearly spent (by anyone), wait for it to start over."""
        pause = workspace_pause(resp, self.reserve_fraction)
        if pause is None:
            return
        wait, remaining, limit = pause
        log.info("awork: workspace rate limit nearly spent (%d of %d left), pausing %.0fs", remaining, limit, wait)
        self._sleep(wait)

    # -- generic -------------------------------------------------------------------------------
    def pages(
        self,
        path: str,
        *,
        filterby: str | None = None,
        orderby: str | None = DEFAULT_ORDER,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Pages of a list endpoint (``page``/``pageSize``, §3). Stops after a short page or when
        ``aw-totalitems`` is reached; empty pages are not yielded."""
        size = _page_size(page_size)
        query = _query(params, filterby, orderby)
        page = 1
        while True:
            items, effective, total = self._page(path, query, page, size)
            if items:
                yield items
            if _last_page(len(items), page, effective, total):
                return
            page += 1

    def pages_updated_since(
        self,
        path: str,
        since: datetime,
        *,
        filterby: str | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Pages of objects with ``updatedOn >= since`` (whole seconds), oldest change first.

        Keyset paging: each request asks again for ``updatedOn ge <updatedOn of the last item>``
        instead of the next page number, so an object changed while we page (it moves to the end)
        cannot push an unseen one off the page boundary. Versions (id, updatedOn) of the boundary
        second already yielded are skipped. More than a page of objects within one second is
        stepped through by page number. An object changed during the run may come twice (older
        version first). Raises ``QueryIgnoredError`` when a page shows that the server ignored the
        filter (an object older than the cursor) or the order (objects out of order): see
        ``hq_sync.clients.awork.query``.
        """
        size = _page_size(page_size)
        cursor = _whole_second(since)
        page = 1
        seen: set[tuple[str, str]] = set()  # (id, updatedOn) already yielded at the cursor second
        while True:
            condition = f"updatedOn ge {datetime_literal(cursor)}"
            query = _query(params, all_of(condition, filterby), KEYSET_ORDER)
            items, effective, total = self._page(path, query, page, size)
            check_keyset_page(items, cursor)  # raises QueryIgnoredError (issue #10)
            fresh = [item for item in items if _version(item) not in seen]
            if fresh:
                yield fresh
            if _last_page(len(items), page, effective, total):
                return
            last = _updated_second(items[-1])
            if last is not None and last > cursor:
                cursor, page = last, 1
                seen = {_version(i) for i in items if _updated_second(i) == cursor}
            else:  # a whole page within one second
                seen.update(_version(i) for i in items)
                page += 1

    def first_items(self, path: str, *, filterby: str | None, orderby: str | None, page: int = 1) -> Page:
        """One item (``pageSize=1``) of a list, for probing what the endpoint honours."""
        return self._page(path, _query(None, filterby, orderby), page, 1)[0]

    def _page(self, path: str, query: Mapping[str, Any], page: int, size: int) -> tuple[Page, int, int | None]:
        """(items, the page size awork applied, the total it reports) of one list request."""
        resp = self.request("GET", path, params={**query, "page": page, "pageSize": size})
        body = resp.json()
        if not isinstance(body, list):
            raise ClientError(
                f"awork GET {path}: expected a JSON array, got {type(body).__name__}",
                status=resp.status_code,
                method="GET",
                url=self.url(path),
            )
        effective = header_int(resp, "aw-pagesize") or size
        self.last_total_items = header_int(resp, "aw-totalitems")  # what the last list request matched
        return body, min(effective, size), self.last_total_items

    # -- identity and master data ----------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """The caller (for an API key: its API user) with ``workspace {id, name, url}``."""
        return dict(self.request("GET", "/users/me").json())

    def users(self, *, show_archived: bool = False, **options: Unpack[ListOptions]) -> Iterator[Page]:
        """Pages of users, API users included (they have no e-mail); see ``user_email``."""
        return self.pages("/users", params=_archived(show_archived), **options)

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/users/{user_id}")

    def types_of_work(self, *, show_archived: bool = False, **options: Unpack[ListOptions]) -> Iterator[Page]:
        """Pages of types of work."""
        return self.pages("/typeofwork", params=_archived(show_archived), **options)

    def companies(self, **options: Unpack[ListOptions]) -> Iterator[Page]:
        """Pages of companies."""
        return self.pages("/companies", **options)

    def company(self, company_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/companies/{company_id}")

    # -- projects --------------------------------------------------------------------------------
    def projects(self, **options: Unpack[ListOptions]) -> Iterator[Page]:
        """Pages of projects."""
        return self.pages("/projects", **options)

    def project(self, project_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/projects/{project_id}")

    def project_by_key(self, project_key: str) -> dict[str, Any] | None:
        """Look a project up by its ``projectKey`` (e.g. after an ambiguous create)."""
        return self.get_or_none(f"/projects/key/{project_key}")

    def create_project(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /projects`` (``name*``, ``companyId``, ``projectKey``, ``isBillableByDefault``, …).
        A lost answer raises AmbiguousWriteError: look the project up (e.g. by key) before retrying."""
        return dict(self.request("POST", "/projects", json=dict(body)).json())

    def update_project(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /projects/{id}`` with a full ``ProjectPutForm`` (``name*``; omitted fields reset)."""
        return dict(self.request("PUT", f"/projects/{project_id}", json=dict(body)).json())

    def delete_project(self, project_id: str, *, delete_time_trackings: bool = False) -> bool:
        """``POST /projects/{id}/delete``; False when it was already gone. Without
        ``delete_time_trackings`` its time entries stay, with project and task cleared."""
        return self._delete(f"/projects/{project_id}/delete", {"deleteTimeTrackings": delete_time_trackings})

    # -- task lists and tasks --------------------------------------------------------------------
    def task_lists(
        self, project_id: str, *, show_archived: bool = False, **options: Unpack[ListOptions]
    ) -> Iterator[Page]:
        """Pages of a project's task lists."""
        return self.pages(f"/projects/{project_id}/tasklists", params=_archived(show_archived), **options)

    def task_list(self, project_id: str, task_list_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/projects/{project_id}/tasklists/{task_list_id}")

    def create_task_list(self, project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /projects/{id}/tasklists`` (``name*``, ``order``)."""
        return dict(self.request("POST", f"/projects/{project_id}/tasklists", json=dict(body)).json())

    def update_task_list(self, project_id: str, task_list_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /projects/{id}/tasklists/{tl}`` (``name*``)."""
        path = f"/projects/{project_id}/tasklists/{task_list_id}"
        return dict(self.request("PUT", path, json=dict(body)).json())

    def delete_task_list(
        self, project_id: str, task_list_id: str, *, delete_tasks: bool = False, delete_times: bool = False
    ) -> bool:
        """``POST …/tasklists/{tl}/delete``; its tasks only leave the list unless ``delete_tasks``."""
        path = f"/projects/{project_id}/tasklists/{task_list_id}/delete"
        return self._delete(path, {"deleteTasks": delete_tasks, "deleteTimes": delete_times})

    def add_tasks_to_list(
        self, project_id: str, task_list_id: str, tasks: Sequence[str | Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """``POST …/tasklists/{tl}/addtasks``: task ids (or ``{taskId, order}``) join the list and
        keep their other lists; answers ``[{id, order}]``. Repeating it is harmless."""
        body = [{"taskId": t} if isinstance(t, str) else dict(t) for t in tasks]
        path = f"/projects/{project_id}/tasklists/{task_list_id}/addtasks"
        return list(self.request("POST", path, json=body, idempotent=True).json())

    def project_tasks(self, project_id: str, **options: Unpack[ListOptions]) -> Iterator[Page]:
        """``GET /projects/{id}/projecttasks`` (awork has no ``GET /tasks``); ``lists`` on each task."""
        return self.pages(f"/projects/{project_id}/projecttasks", **options)

    def task(self, task_id: str) -> dict[str, Any] | None:
        return self.get_or_none(f"/tasks/{task_id}")

    def create_task(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /tasks``; a project task is ``{baseType: "projecttask", entityId: <projectId>,
        name*, typeOfWorkId?, plannedDuration? (s), lists?: [{id, order}]}``."""
        return dict(self.request("POST", "/tasks", json=dict(body)).json())

    def update_task(self, task_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /tasks/{id}`` with a ``GeneralTaskForm`` (``name*``, ``description``, ``plannedDuration``, …)."""
        return dict(self.request("PUT", f"/tasks/{task_id}", json=dict(body)).json())

    def delete_tasks(self, task_ids: Sequence[str], *, delete_time_trackings: bool = False) -> dict[str, Any] | None:
        """``POST /tasks/delete``: None when all went (204), else awork's ``MultiStatusResult`` (207)."""
        body = {"taskIds": list(task_ids), "deleteTimeTrackings": delete_time_trackings}
        resp = self.request("POST", "/tasks/delete", idempotent=True, json=body)
        return dict(resp.json()) if resp.status_code == 207 and resp.content else None

    # -- time entries ----------------------------------------------------------------------------
    def time_entries_updated_since(
        self,
        since: datetime,
        *,
        filterby: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        support: QuerySupport = QuerySupport.HONOURED,
    ) -> Iterator[Page]:
        """Time entries created or changed at/after ``since`` (aware). Deleted entries never show
        (§9.6). Where ``/timeentries`` honours filterby and orderby: oldest change first, keyset
        paging (``pages_updated_since``, which raises ``QueryIgnoredError`` when it finds out
        otherwise); else a page-by-page read filtered here (``hq_sync.clients.awork.query``)."""
        if support is QuerySupport.HONOURED:
            return self.pages_updated_since("/timeentries", since, filterby=filterby, page_size=page_size)
        if filterby:
            raise ValueError("an extra filterby needs a /timeentries that honours filterby")
        return pages_changed_since_full_read(self, "/timeentries", since, support)

    def time_entry_query_support(self) -> QuerySupport:
        """Whether ``/timeentries`` honours filterby and orderby (3 one-item requests, issue #10)."""
        return check_query_support(self, "/timeentries")

    def time_entries(
        self,
        *,
        between: tuple[date, date] | None = None,
        project_id: str | None = None,
        filterby: str | None = None,
        orderby: str | None = "createdOn asc,id asc",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Time entries whose ``startDateUtc`` lies in ``between = (first_day, last_day)`` (UTC
        days, inclusive) and/or of one project. For deletion reconciliation: an entry missing
        here is only gone once ``time_entry(id)`` says None (paging can shift under deletions)."""
        conditions = _time_entry_conditions(between, project_id)
        pages = self.pages("/timeentries", filterby=all_of(*conditions, filterby), orderby=orderby, page_size=page_size)
        if between is None and project_id is None:
            return pages
        return _within(pages, between, project_id)  # also right where awork ignores filterby (issue #10)

    def time_entry_count(self, *, between: tuple[date, date], project_ids: Sequence[str]) -> int | None:
        """How many time entries of ``project_ids`` start in ``between`` (UTC days, inclusive): the
        ``aw-totalitems`` of one one-item request per ``COUNT_PROJECTS_PER_REQUEST`` projects
        (§3: the total after ``filterby``). None when awork sends no total; 0 for no projects."""
        total = 0
        ids = list(project_ids)
        for start in range(0, len(ids), COUNT_PROJECTS_PER_REQUEST):
            chunk = ids[start : start + COUNT_PROJECTS_PER_REQUEST]
            projects = any_of(*(f"projectId eq {guid_literal(p)}" for p in chunk))
            query = _query(None, all_of(*_time_entry_conditions(between, None), projects), "createdOn asc,id asc")
            _items, _size, found = self._page("/timeentries", query, 1, 1)
            if found is None:
                return None
            total += found
        return total

    def time_entry(self, time_entry_id: str) -> dict[str, Any] | None:
        """One time entry, or None when awork answers 404 (deleted)."""
        return self.get_or_none(f"/timeentries/{time_entry_id}")

    # -- helpers ---------------------------------------------------------------------------------
    def _delete(self, path: str, body: Mapping[str, Any]) -> bool:
        """awork's ``POST …/delete``; False when the object was already gone."""
        return self.request_if_found("POST", path, json=dict(body), idempotent=True)


def _time_entry_conditions(between: tuple[date, date] | None, project_id: str | None) -> list[str]:
    """The ``filterby`` conditions of a window of UTC days and/or a project."""
    conditions: list[str] = []
    if between is not None:
        first, last = between
        if isinstance(first, datetime) or isinstance(last, datetime):
            raise TypeError("between takes dates (UTC days), not datetimes")
        conditions.append(f"startDateUtc ge {datetime_literal(first)}")
        conditions.append(f"startDateUtc lt {datetime_literal(last + timedelta(days=1))}")
    if project_id is not None:
        conditions.append(f"projectId eq {guid_literal(project_id)}")
    return conditions


def _within(pages: Iterator[Page], between: tuple[date, date] | None, project_id: str | None) -> Iterator[Page]:
    """The entries of ``pages`` that lie in ``between`` (UTC days) and belong to ``project_id``."""
    for page in pages:
        kept = []
        for item in page:
            day = str(item.get("startDateUtc") or "")[:10]
            if between is not None and not (between[0].isoformat() <= day <= between[1].isoformat()):
                continue
            if project_id is not None and str(item.get("projectId") or "").lower() != str(project_id).lower():
                continue
            kept.append(item)
        if kept:
            yield kept


def _last_page(count: int, page: int, effective: int, total: int | None) -> bool:
    """Whether a list read is done: a short page, or ``aw-totalitems`` reached."""
    return count < effective or (total is not None and page * effective >= total)


def _page_size(value: int) -> int:
    if value < 1:
        raise ValueError("page_size must be at least 1")
    return min(int(value), MAX_PAGE_SIZE)


def _query(params: Mapping[str, Any] | None, filterby: str | None, orderby: str | None) -> dict[str, Any]:
    query = {k: v for k, v in (params or {}).items() if v is not None}
    if filterby:
        query["filterby"] = filterby
    if orderby:
        query["orderby"] = orderby
    return query


def _archived(show_archived: bool) -> dict[str, str]:
    """The ``showArchived`` query parameter."""
    return {"showArchived": "true" if show_archived else "false"}


def _updated_second(item: Mapping[str, Any]) -> datetime | None:
    """An object's ``updatedOn`` in whole seconds (the keyset cursor's resolution), or None."""
    moment = parse_awork_timestamp(item.get("updatedOn"))
    return moment.replace(microsecond=0) if moment is not None else None


def _version(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item.get("id")), str(item.get("updatedOn"))


def _whole_second(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)
