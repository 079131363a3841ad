"""Shared plumbing of the vendor routes: keys, bodies, envelopes and the per-request context."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.hq.auth import make_authenticator
from sandboxes.hq.data import HQState, Principal, TenantData
from sandboxes.hq.errors import bad_request, not_found
from sandboxes.hq.model import EntityType, Record, entity
from sandboxes.hq.odata_query import collection_envelope, parse_options, shape
from sandboxes.hq.settings import TenantSettings


@dataclass
class Ctx:
    """One authenticated request: the caller, the tenant's data and the request itself."""

    principal: Principal
    data: TenantData
    request: Request

    @property
    def actor(self) -> int:
        return self.principal.actor_id

    @property
    def settings(self) -> TenantSettings:
        return self.principal.tenant.settings


class Api:
    """Builds the per-request context and the responses every route shares."""

    def __init__(self, state: HQState) -> None:
        self.state = state
        authenticate = make_authenticator(state)

        async def context(request: Request, principal: Principal = Depends(authenticate)) -> Ctx:
            return Ctx(principal, state.data(principal.tenant), request)

        self.ctx = Depends(context)

    # -- requests ----------------------------------------------------------------------------
    @staticmethod
    def key(raw: str, entity_name: str) -> int:
        """Returns an entity key such as the ``123`` of ``Users(123)``; unknown/invalid ids are 404."""
        text = raw.strip()
        if text.startswith("Id="):
            text = text[3:]
        try:
            return int(text)
        except ValueError:
            raise not_found(entity_name, raw) from None

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
        """Returns the JSON object body; a missing or malformed body is a 400 (HQ README)."""
        raw = await request.body()
        if not raw.strip():
            raise bad_request("The request body is missing.")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise bad_request("The request body must be a JSON object.")
        return value

    # -- responses ---------------------------------------------------------------------------
    @staticmethod
    def context_url(ctx: Ctx, fragment: str) -> str:
        base = str(ctx.request.base_url).rstrip("/")
        return f"{base}/v1/$metadata#{fragment}"

    def collection(self, ctx: Ctx, records: Iterable[Record], type_name: str, set_name: str) -> JSONResponse:
        """Answers a collection GET with the OData envelope (query options applied)."""
        params = dict(ctx.request.query_params)
        etype = entity(type_name)
        query = parse_options(params, etype, ctx.settings, collection=True)
        url = str(ctx.request.url).split("?", 1)[0]
        body = collection_envelope(records, query, ctx.data, ctx.settings, self.context_url(ctx, set_name), url, params)
        return JSONResponse(body)

    def entity(self, ctx: Ctx, record: Record, type_name: str, set_name: str, status: int = 200) -> JSONResponse:
        """Answers one entity ($select/$expand applied) with its ``@odata.context``."""
        return JSONResponse(self.render(ctx, record, type_name, set_name), status_code=status)

    def render(self, ctx: Ctx, record: Record, type_name: str, set_name: str) -> dict[str, Any]:
        """Returns one entity as the client sees it (query options of the request applied)."""
        etype: EntityType = entity(type_name)
        query = parse_options(dict(ctx.request.query_params), etype, ctx.settings, collection=False)
        query.bind(ctx.data)
        out = {"@odata.context": self.context_url(ctx, f"{set_name}/$entity")}
        out.update(shape(record, query, ctx.data))
        return out

    @staticmethod
    def no_content() -> Response:
        return Response(status_code=204)
