"""HQ (helloHQ) API v1 client: OData-style collections, paged whatever HQ's server page size is.

Authentication: a static Bearer token (the tenant's sync token, HQ → Admin → API clients), or
HQ's OAuth with expiring access tokens and refresh tokens (``HqOAuthTokens``, issue #10), both
from the tenant's ``hq_<tenant>`` connection. The contract is ``../shared/api/hq.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters

from hq_sync.clients.auth import BearerAuth, StaticBearerToken
from hq_sync.clients.http import ClientError, HttpClient, RetryPolicy
from hq_sync.clients.oauth import OAuthAuthorizationRevoked, OAuthTokenStoreError, RotatingOAuthTokens

log = logging.getLogger(__name__)

MAX_TOP = 1000  # HQ's documented page size limit
DEFAULT_WRITE_CONCURRENCY = 8  # concurrent HQ writes in a load (connection extra ``write_concurrency``)


def odata_literal(value: Any) -> str:
    """A value as an OData ``$filter`` literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def same_name(a: Any, b: Any) -> bool:
    """Whether two HQ names (custom fields, SyncIds, numbers) are the same, ignoring case and
    surrounding blanks: HQ's own comparison most likely ignores case (SQL Server), so the sync
    must never depend on it either way (issue #10)."""
    return a is not None and b is not None and str(a).strip().casefold() == str(b).strip().casefold()


# -- authentication ---------------------------------------------------------------------------
HqAuth = BearerAuth  # how the client authenticates: a static token or OAuth tokens


class HqStaticToken(StaticBearerToken):
    """A static bearer token: HQ's sync token (Admin → API clients) or a v2 API-client token.
    A rejected token stays rejected: the client fails with the 401."""

    what = "HQ token"


class HqAuthorizationRevoked(OAuthAuthorizationRevoked):
    """The tenant's HQ OAuth grant is gone: only a new authorisation by a person helps."""


class HqTokenStoreError(OAuthTokenStoreError):
    """A rotated HQ refresh token could not be stored; the new access token was not used."""


REAUTHORISE = (
    "Re-authorise the tenant's HQ connection: python -m hq_sync.connect.hq --tenant <tenant> "
    "(docs/runbook.md#connect-hq)"
)
OAUTH_SCOPE = "read_all write_all"  # HQ v1's only scopes (hq.md §3)


def hq_root(api_url: str) -> str:
    """HQ's host without the API version (``https://api.hellohq.io``): where ``/Token`` and
    ``/Account/Authorize`` live."""
    root = api_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def hq_token_url(api_url: str) -> str:
    """``POST /Token`` next to the v1 API (hq.md §3)."""
    return f"{hq_root(api_url)}/Token"


class HqOAuthTokens(RotatingOAuthTokens):
    """HQ v1 OAuth (authorization code; hq.md §3): access tokens of about 20 minutes from a refresh
    token redeemed at ``POST /Token`` with Basic ``AppId:AppSecret``; renewed before they expire
    and once after a 401. HQ "can return a new refresh token": a new one is saved before the new
    access token is used (``hq_sync.clients.oauth``); an answer without one keeps the old one."""

    vendor = "hq"
    revoked_error = HqAuthorizationRevoked
    store_error = HqTokenStoreError
    rotation_required = False

    def _reauthorise_hint(self, tenant: str | None) -> str:
        return REAUTHORISE.replace("<tenant>", tenant) if tenant else REAUTHORISE


class HqClient(HttpClient):
    """Collections, entities and bound actions of HQ's v1 API."""

    vendor = "hq"
    auth: BearerAuth

    def __init__(
        self,
        base_url: str,
        auth: str | BearerAuth,
        *,
        retry: RetryPolicy | None = None,
        page_size: int = MAX_TOP,
        write_concurrency: int = DEFAULT_WRITE_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        credentials = HqStaticToken(auth) if isinstance(auth, str) else auth
        super().__init__(base_url, retry=retry, auth=credentials, **kwargs)
        self.page_size = min(page_size, MAX_TOP)
        # How many writes the loaders send at once (hq_sync.load.concurrency); the request budget
        # still paces them. The session keeps a connection per concurrent writer.
        self.write_concurrency = write_concurrency
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, write_concurrency + 2))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"HqClient({self.base_url!r})"

    # -- generic ---------------------------------------------------------------------------
    def pages(
        self,
        path: str,
        *,
        filter: str | None = None,
        select: str | None = None,
        expand: str | None = None,
        orderby: str | None = "Id",
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a collection (``value`` arrays, never empty ones), until the collection is read.

        HQ's server page size is unknown (hq.md §9.7): a response may hold fewer entities than our
        ``$top`` although more exist. So a page is never taken as the last one for being short:

        - ``@odata.nextLink`` present: it is followed verbatim (it carries the query);
        - else, when the server reported ``@odata.count`` (we ask with ``$count=true``): read on
          with the next ``$skip`` until that many entities were seen (or a page comes back empty);
        - else: read on with the next ``$skip`` until a page comes back empty.

        Ordered by ``Id`` by default so that paging is stable while we read.
        """
        params: dict[str, Any] = {"$top": self.page_size, "$count": "true"}
        for key, value in (("$filter", filter), ("$select", select), ("$expand", expand), ("$orderby", orderby)):
            if value:
                params[key] = value
        own_host = urlsplit(self.base_url).netloc
        url = path
        query: dict[str, Any] | None = dict(params)  # None: the next link carries the query
        seen = 0
        previous: list[Any] | None = None
        while True:
            body = self.request("GET", url, params=query).json()
            values = list(body.get("value") or [])
            if query is not None and query.get("$skip") and values and _ids(values) == previous:
                # The server answered the page we already had: it ignores $skip. Reading on would
                # loop for ever; stopping would silently miss records.
                raise ClientError(
                    f"hq: {path} answered the same page again for $skip={query['$skip']} "
                    "(the server ignores $skip and sent no @odata.nextLink); refusing to read on"
                )
            previous = _ids(values)
            if values:
                yield values
            seen += len(values)
            count = body.get("@odata.count")
            next_link = body.get("@odata.nextLink")
            if next_link and values:
                # Absolute, host-relative (/v1/Users?...) or relative to the service root (Users?...).
                url = urljoin(self.base_url.rstrip("/") + "/", str(next_link))
                if urlsplit(url).netloc != own_host:
                    raise ClientError(f"hq: next page on a foreign host ({urlsplit(url).netloc}); refusing to follow")
                query = None
                continue
            if not values or (isinstance(count, int) and seen >= count):
                return
            url, query = path, {**params, "$skip": seen}

    def all(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a (small) collection."""
        return [item for page in self.pages(path, **kwargs) for item in page]

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One entity, or None on 404."""
        return self.get_or_none(path, params)

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new entity (not idempotent: a lost answer raises AmbiguousWriteError)."""
        return dict(self.request("POST", path, json=dict(body)).json())

    def delete(self, path: str) -> bool:
        """DELETE an entity; False when it was already gone (404), so a retried delete is safe."""
        return self.request_if_found("DELETE", path)

    # -- users -----------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """Every active user with ``Id``, names and ``EMailWork``."""
        return self.all("Users", select="Id,FirstName,LastName,EMailWork")

    # -- absences --------------------------------------------------------------------------
    def absences(
        self, user_id: int | str, *, start: date | None = None, end: date | None = None
    ) -> list[dict[str, Any]]:
        """A user's absences, optionally those overlapping [start, end)."""
        clauses = []
        if start is not None:
            clauses.append(f"End gt {odata_literal(datetime(start.year, start.month, start.day))}")
        if end is not None:
            clauses.append(f"Start lt {odata_literal(datetime(end.year, end.month, end.day))}")
        return self.all(f"Users({user_id})/Absences", filter=" and ".join(clauses) or None)

    def create_absence(self, user_id: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.create(f"Users({user_id})/Absences", {**body, "UserId": int(user_id)})

    def delete_absence(self, user_id: int | str, absence_id: int | str) -> bool:
        return self.delete(f"Users({user_id})/Absences({absence_id})")

    # -- master data (awork → HQ, issue #5) ------------------------------------------------
    def task_types(self) -> list[dict[str, Any]]:
        """Every task type with ``Id``, ``Name`` and ``IsDefault``."""
        return self.all("TaskTypes", select="Id,Name,IsDefault")

    # -- projects and their custom fields --------------------------------------------------
    def projects_with_custom_field(self, name: str) -> list[dict[str, Any]]:
        """Projects whose custom field ``name`` (any case) holds a value, each with its ``CustomFields``.

        HQ's string comparison may or may not ignore case (issue #10), so the filter names the
        field as HQ spells it (from its definitions); callers compare names with ``same_name``.
        """
        stored = self.custom_field_name(name) or name
        return self.all(
            "Projects",
            expand="CustomFields",
            filter=f"CustomFields/any(c: c/Name eq {odata_literal(stored)} and c/Value ne null)",
            select="Id,Name,Number",
        )

    # -- project tasks and phases (a phase is a top-level task) ----------------------------
    TASK_WRITABLE = (
        "Name",
        "Order",
        "ParentId",
        "ProjectId",
        "IsDone",
        "PlannedEffort",
        "PercentDone",
        "Description",
        "StartOn",
        "EndOn",
        "TaskTypeId",
        "TaskTypeStatusId",
        "IsAppointment",
        "SyncId",
        "Sync",
        "JiraProjectName",
        "Remaining",
        "ProjectBudgetId",
        "ChargeType",
        "ChargeValue",
    )

    def project_tasks(self, project_id: int | str) -> list[dict[str, Any]]:
        """Every task and phase of one project."""
        return self.all("ProjectTasks", filter=f"ProjectId eq {int(project_id)}")

    def project_tasks_by_sync_id(self, project_id: int | str, sync_id: str) -> list[dict[str, Any]]:
        """The project's tasks carrying ``SyncId`` in any case (HQ does not enforce uniqueness: a list).

        ``tolower`` on both sides, so the answer is the same whether HQ compares strings with or
        without case (issue #10).
        """
        wanted = sync_id.casefold()
        found = self.all(
            "ProjectTasks", filter=f"ProjectId eq {int(project_id)} and tolower(SyncId) eq {odata_literal(wanted)}"
        )
        return [t for t in found if str(t.get("SyncId") or "").casefold() == wanted]

    def create_project_task(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /ProjectTasks`` (not idempotent: look it up by SyncId after an ambiguous answer)."""
        return self.create("ProjectTasks", body)

    def update_project_task(self, task: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /ProjectTasks({id})``: HQ's PUT replaces, so the task's writable fields are sent
        as read, with ``changes`` applied (fields left out would be reset)."""
        body = {k: task.get(k) for k in self.TASK_WRITABLE if k in task}
        body.update(changes)
        return dict(self.request("PUT", f"ProjectTasks({int(task['Id'])})", json=body).json())

    # -- reportings ------------------------------------------------------------------------
    def create_reporting(self, project_id: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /Projects({id})/do.CreateReporting`` {UserId, StartDate, Duration (s), TaskId,
        Description}; HQ computes the rates. Not idempotent (see ``AmbiguousWriteError``)."""
        return self.create(f"Projects({int(project_id)})/do.CreateReporting", body)

    def user_reportings(self, user_id: int | str, *, filter: str | None = None) -> list[dict[str, Any]]:
        return self.all(f"Users({int(user_id)})/Reportings", filter=filter)

    def reporting(self, user_id: int | str, reporting_id: int | str) -> dict[str, Any] | None:
        return self.get(f"Users({int(user_id)})/Reportings({int(reporting_id)})")

    def project_reportings(self, project_id: int | str) -> list[dict[str, Any]]:
        """Every reporting of one project (all users)."""
        return self.all("UserReportings", filter=f"ProjectId eq {int(project_id)}")

    REPORTING_WRITABLE = ("Note", "Duration", "StartOn", "BreakDuration", "TaskId", "IsApproved")

    def update_reporting(self, reporting: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /Users({uid})/Reportings({rid})``; the writable fields as read, with ``changes``.
        HQ cannot move a reporting to another user or project (delete + create instead)."""
        body = {k: reporting.get(k) for k in self.REPORTING_WRITABLE}
        body.update(changes)
        path = f"Users({int(reporting['UserId'])})/Reportings({int(reporting['Id'])})"
        return dict(self.request("PUT", path, json=body).json())

    def delete_reporting(self, user_id: int | str, reporting_id: int | str) -> bool:
        return self.delete(f"Users({int(user_id)})/Reportings({int(reporting_id)})")

    def billed_reporting_ids(self) -> set[int]:
        """Ids of reportings on an invoice (HQ v1 shows billing only through invoice positions)."""
        ids: set[int] = set()
        for invoice in self.all("Invoices", expand="Positions($expand=UserReportings($select=Id))", select="Id"):
            for position in invoice.get("Positions") or []:
                for rep in position.get("UserReportings") or []:
                    ids.add(int(rep["Id"]))
        return ids

    # -- HQ → awork (A2–A4) -----------------------------------------------------------------
    def projects_with_fields(self) -> list[dict[str, Any]]:
        """Every project with ``Id``, ``Name``, ``Number``, ``CompanyId`` and its ``CustomFields``."""
        return self.all("Projects", expand="CustomFields", select="Id,Name,Number,CompanyId")

    def projects(self) -> list[dict[str, Any]]:
        """Every project with ``Id``, ``Name`` and ``Number`` (no custom fields)."""
        return self.all("Projects", select="Id,Name,Number")

    def companies(self) -> list[dict[str, Any]]:
        return self.all("Companies", select="Id,Name")

    def custom_field_definitions(self, category: str = "Project") -> list[dict[str, Any]]:
        """Every custom-field definition of ``category`` (``Id``, ``Name``, ``Category``)."""
        return [
            d
            for d in self.all("CustomFieldDefinitions", select="Id,Name,Category")
            if str(d.get("Category") or "").casefold() == category.casefold()
        ]

    def custom_field_definition_id(self, name: str, category: str = "Project") -> int | None:
        """The id of a custom-field definition named ``name`` in any case (only HQ's UI creates
        them), or None."""
        for definition in self.custom_field_definitions(category):
            if same_name(definition.get("Name"), name):
                return int(definition["Id"])
        return None

    def custom_field_name(self, name: str, category: str = "Project") -> str | None:
        """How HQ spells the custom field ``name`` (matched in any case), or None."""
        for definition in self.custom_field_definitions(category):
            if same_name(definition.get("Name"), name):
                return str(definition["Name"])
        return None

    def set_project_custom_field(self, project_id: int | str, definition_id: int, value: str) -> None:
        """PUT one custom-field value of a project (idempotent)."""
        self.request("PUT", f"Projects({project_id})/CustomFields({definition_id})", json={"Value": value})

    def quotation_by_number(self, number: str) -> dict[str, Any] | None:
        """The offer (Angebot) with this number (any case), with its ``Positions``; None when there is none."""
        wanted = number.strip().casefold()
        found = [
            q
            for q in self.all("Quotations", filter=f"tolower(Number) eq {odata_literal(wanted)}", expand="Positions")
            if str(q.get("Number") or "").strip().casefold() == wanted
        ]
        return found[0] if found else None


def _ids(values: list[dict[str, Any]]) -> list[Any]:
    """The entities' ids (or the entities themselves when they carry none): a page's identity."""
    return [v.get("Id", v) if isinstance(v, dict) else v for v in values]
