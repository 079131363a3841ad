"""HQ (helloHQ) API v1 client: OData-style collections, paged with ``$top``/``$skip``.

Authentication is a static Bearer token: the tenant's sync token (HQ → Admin → API clients), kept
in the tenant's ``hq_<tenant>`` connection. The contract is ``../shared/api/hq.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from hq_sync.clients.http import HttpClient, NotFoundError, RetryPolicy

log = logging.getLogger(__name__)

MAX_TOP = 1000  # HQ's documented page size limit


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


class HqClient(HttpClient):
    """Collections, entities and bound actions of HQ's v1 API."""

    vendor = "hq"

    def __init__(self, base_url: str, token: str, *, retry: RetryPolicy | None = None, page_size: int = MAX_TOP, **kwargs: Any) -> None:
        super().__init__(base_url, retry=retry, **kwargs)
        self._token = token
        self.page_size = min(page_size, MAX_TOP)

    def __repr__(self) -> str:
        return f"HqClient({self.base_url!r})"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

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
        """Pages of a collection (``value`` arrays), ``$top``/``$skip`` in blocks of ``page_size``.

        Ordered by ``Id`` by default so that paging is stable while we read.
        """
        skip = 0
        while True:
            params: dict[str, Any] = {"$top": self.page_size, "$skip": skip}
            for key, value in (("$filter", filter), ("$select", select), ("$expand", expand), ("$orderby", orderby)):
                if value:
                    params[key] = value
            body = self.request("GET", path, params=params).json()
            values = list(body.get("value") or [])
            if values:
                yield values
            if len(values) < self.page_size:
                return
            skip += len(values)

    def all(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a (small) collection."""
        return [item for page in self.pages(path, **kwargs) for item in page]

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One entity, or None on 404."""
        try:
            return dict(self.request("GET", path, params=params).json())
        except NotFoundError:
            return None

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new entity (not idempotent: a lost answer raises AmbiguousWriteError)."""
        return dict(self.request("POST", path, json=dict(body)).json())

    def delete(self, path: str) -> bool:
        """DELETE an entity; False when it was already gone (404), so a retried delete is safe."""
        try:
            self.request("DELETE", path)
        except NotFoundError:
            return False
        return True

    # -- users -----------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """Every active user with ``Id``, names and ``EMailWork``."""
        return self.all("Users", select="Id,FirstName,LastName,EMailWork")

    # -- absences --------------------------------------------------------------------------
    def absences(self, user_id: int | str, *, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
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
