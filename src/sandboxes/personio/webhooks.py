"""Personio v2 webhooks: the management API, the event history and deliveries (issue #14).

Management (``shared/api/webhooks.md``; scope ``personio:webhooks:read`` / ``:write``):

- ``GET /v2/webhooks`` (``limit`` 1..200, cursor; filters ``status``, ``enabled_events``),
  ``POST /v2/webhooks`` → 201, ``GET``/``PATCH``/``DELETE /v2/webhooks/{id}`` (404 when unknown);
- ``GET /v2/webhooks/{id}/events``: what was sent (or tried) for the webhook, 30 days back, oldest
  first; filters ``occurred_at.gte``/``.lte``, ``event_name``.

A webhook needs ``url`` (HTTPS; the sandbox also takes ``http://`` on loopback), ``description``
and ``enabled_events``; ``status`` defaults to DISABLED; ``auth_type`` TOKEN (default: ``token``
arrives verbatim in ``Authorization``), CUSTOM (up to 3 ``custom_headers``) or NONE. A second
webhook with the same URL is a 409. The token is write-only (never in a GET).

Deliveries: every change of an absence period made through the API fires ``absence-period.created``,
``absence-period.updated.timerange`` (start/end changed), ``absence-period.updated.status``
(approval changed) or ``absence-period.deleted`` to each ENABLED webhook of the tenant subscribed to
it, as the dataless envelope ``{company_id, event_name, occurred_at, payload: {id}, meta}``. Other
edits (comment, type) fire nothing: Personio documents no event for them. Rules: an answer within
``timeout_seconds`` (3), no redirects followed; no 2xx in time or a 5xx other than 501 is retried, 6
attempts with 2 quick tries each (the real 3 days are compressed into ``retry_delays``).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandboxes.common.webhooks import Deliveries, Rules, WebhookSettings, check_delays, check_positive
from sandboxes.personio import query
from sandboxes.personio.auth import Principal, require
from sandboxes.personio.errors import ApiError
from sandboxes.personio.pagination import PageRequest, decode_cursor, list_body, take_page
from sandboxes.personio.state import PersonioState, get_state
from sandboxes.personio.timeutil import format_utc, utc_now

router = APIRouter()

READ = "personio:webhooks:read"
WRITE = "personio:webhooks:write"
WEBHOOKS = "webhooks"
EVENTS = "webhook_events"
EVENT_NAMES = (
    "absence-period.created",
    "absence-period.updated.timerange",
    "absence-period.updated.status",
    "absence-period.deleted",
    "person.created",
    "person.updated",
    "person.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
)
FORBIDDEN_HEADERS = {"host", "content-type", "content-length", "authorization", "connection", "transfer-encoding"}
HISTORY_DAYS = 30
WRITABLE = {"url", "description", "status", "auth_type", "token", "custom_headers", "enabled_events"}

DEFAULTS: dict[str, Any] = {
    "timeout_seconds": 3.0,
    "attempts": 6,
    "quick_tries": 2,
    # Personio spreads 6 attempts over up to 3 days; the sandbox compresses that.
    "retry_delays": [1.0, 2.0, 4.0, 8.0, 16.0],
    # Accept http:// URLs on loopback hosts (the real API wants HTTPS; the demo has no TLS).
    "allow_http_loopback": True,
}


def _validate(values: dict[str, Any]) -> None:
    check_positive(values["timeout_seconds"], "timeout_seconds")
    for name in ("attempts", "quick_tries"):
        if not isinstance(values[name], int) or isinstance(values[name], bool) or values[name] < 1:
            raise ValueError(f"{name!r} must be a positive integer")
    check_delays(values["retry_delays"], "retry_delays")
    if not isinstance(values["allow_http_loopback"], bool):
        raise ValueError("'allow_http_loopback' must be true or false")


class PersonioWebhooks:
    """Settings and deliveries of one Personio sandbox."""

    def __init__(self, state: PersonioState) -> None:
        self.state = state
        self.settings = WebhookSettings(DEFAULTS, _validate)
        self.deliveries = Deliveries("personio", self._rules, on_done=self._done)

    def _rules(self) -> Rules:
        s = self.settings.get()
        # Retried: no answer in time, or a 5xx other than 501. A 4xx or a redirect is final.
        return Rules(
            timeout=float(s["timeout_seconds"]),
            attempts=int(s["attempts"]),
            quick_tries=int(s["quick_tries"]),
            retry_delays=list(s["retry_delays"]),
            retried=lambda status: status is None or (status >= 500 and status != 501),
        )

    def _done(self, delivery: Any) -> None:
        event = self.state.store.get(delivery.tenant, EVENTS, delivery.body.get("meta", {}).get("event_id", ""))
        if event is not None:
            event["status"] = "DELIVERED" if delivery.outcome == "delivered" else "FAILED"
            event["attempts"] = len(delivery.attempts)
            self.state.store.put(delivery.tenant, EVENTS, event["id"], event)

    def reset(self) -> None:
        self.settings.reset()
        self.deliveries.reset()

    def emit(self, tenant: str, event_name: str, payload: dict[str, Any]) -> int:
        """Fire one event to the tenant's enabled webhooks that want it; returns how many."""
        sent = 0
        occurred = format_utc(utc_now())
        for hook in list(self.state.store.iter_shared(tenant, WEBHOOKS)):
            if hook["status"] != "ENABLED" or event_name not in hook["enabled_events"]:
                continue
            event_id = str(uuid.uuid4())
            body = {
                "company_id": tenant,
                "event_name": event_name,
                "occurred_at": occurred,
                "payload": dict(payload),
                "meta": {"webhook_id": hook["id"], "event_id": event_id},
            }
            record = {
                "id": event_id,
                "seq": self.state.next_seq(),
                "webhook_id": hook["id"],
                **body,
                "status": "PENDING",
                "attempts": 0,
            }
            self.state.store.put(tenant, EVENTS, event_id, record)
            headers = {"Content-Type": "application/json", "User-Agent": "Personio-Webhooks/sandbox"}
            if hook["auth_type"] == "TOKEN" and hook.get("_token"):
                headers["Authorization"] = hook["_token"]
            elif hook["auth_type"] == "CUSTOM":
                headers.update({h["name"]: h["value"] for h in hook.get("custom_headers") or []})
            self.deliveries.send(tenant, hook["id"], hook["url"], event_name, body, headers)
            sent += 1
        return sent


_BY_STATE: dict[int, PersonioWebhooks] = {}  # id(state) → its webhooks (one app per state, for the process's life)


def install(app: FastAPI, state: PersonioState) -> PersonioWebhooks:
    """Add the webhook routes to the sandbox app; ``POST /_sandbox/reset`` also resets them."""
    hooks = PersonioWebhooks(state)
    _BY_STATE[id(state)] = hooks
    app.include_router(router)
    app.include_router(hooks.deliveries.router(hooks.settings.get, hooks.settings.update))
    original = state.reset

    def reset() -> None:
        original()
        hooks.reset()

    state.reset = reset  # type: ignore[method-assign]
    return hooks


def emit(state: PersonioState, tenant: str, event_name: str, payload: dict[str, Any]) -> None:
    """Fire an event (no-op when webhooks are not installed on this state)."""
    hooks = _BY_STATE.get(id(state))
    if hooks is not None:
        hooks.emit(tenant, event_name, payload)


def period_event(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The events a change of an absence period fires (status and/or time range)."""
    names = []
    times = ("start", "start_type", "end_excl", "end_incl", "end_type")  # half-day markers move the range too
    if tuple(before.get(k) for k in times) != tuple(after.get(k) for k in times):
        names.append("absence-period.updated.timerange")
    if before.get("status") != after.get("status"):
        names.append("absence-period.updated.status")
    return names


# -- management API ----------------------------------------------------------------------------
def _hooks(state: PersonioState) -> PersonioWebhooks:
    found = _BY_STATE.get(id(state))
    if found is None:
        raise ApiError(404, "Webhooks are not available.")
    return found


def render(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if not k.startswith("_") and k != "seq"}


def _check_url(url: Any, allow_loopback_http: bool) -> str:
    if not isinstance(url, str) or not url:
        raise ApiError(422, "url is required.")
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (allow_loopback_http and parts.scheme == "http" and loopback):
        raise ApiError(422, "url must be an HTTPS URL.")
    if not parts.netloc:
        raise ApiError(422, "url must be an absolute URL.")
    return url


def _apply(hook: dict[str, Any], body: dict[str, Any], allow_http: bool, *, creating: bool) -> dict[str, Any]:
    unknown = set(body) - WRITABLE
    if unknown:
        raise ApiError(400, f"Unknown fields in the request body: {sorted(unknown)}.")
    if creating or "url" in body:
        hook["url"] = _check_url(body.get("url"), allow_http)
    if creating or "description" in body:
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ApiError(422, "description is required.")
        hook["description"] = description
    if "status" in body or creating:
        status = body.get("status", "DISABLED")
        if status not in ("ENABLED", "DISABLED"):
            raise ApiError(422, "status must be ENABLED or DISABLED.")
        hook["status"] = status
    if "auth_type" in body or creating:
        auth_type = body.get("auth_type", "TOKEN")
        if auth_type not in ("NONE", "TOKEN", "CUSTOM"):
            raise ApiError(422, "auth_type must be NONE, TOKEN or CUSTOM.")
        hook["auth_type"] = auth_type
    if "token" in body:
        if body["token"] is not None and not isinstance(body["token"], str):
            raise ApiError(422, "token must be a string.")
        hook["_token"] = body["token"]
    if "custom_headers" in body:
        headers = body["custom_headers"] or []
        if (
            not isinstance(headers, list)
            or len(headers) > 3
            or not all(
                isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
                for h in headers
            )
        ):
            raise ApiError(422, "custom_headers must be up to 3 objects {name, value}.")
        if any(h["name"].lower() in FORBIDDEN_HEADERS for h in headers):
            raise ApiError(422, f"custom_headers may not set {sorted(FORBIDDEN_HEADERS)}.")
        hook["custom_headers"] = headers
    if hook.get("custom_headers") and hook["auth_type"] != "CUSTOM":
        raise ApiError(422, "custom_headers are only allowed with auth_type CUSTOM.")
    if creating or "enabled_events" in body:
        events = body.get("enabled_events")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise ApiError(422, "enabled_events must be a non-empty list of event names.")
        unknown_events = sorted(set(events) - set(EVENT_NAMES))
        if unknown_events:
            raise ApiError(422, f"Unknown event names: {unknown_events}.")
        hook["enabled_events"] = list(dict.fromkeys(events))
    return hook


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _find(state: PersonioState, tenant: str, webhook_id: str) -> dict[str, Any]:
    hook = state.store.get(tenant, WEBHOOKS, webhook_id)
    if hook is None:
        raise ApiError(404, f"The webhook with id {webhook_id} was not found.")
    return hook


def _page(request: Request, group: str, filters: tuple[str, ...]) -> PageRequest:
    raw = request.query_params.get("limit")
    try:
        limit = int(raw) if raw not in (None, "") else 100
    except ValueError:
        raise ApiError(400, "The limit must be an integer between 1 and 200.") from None
    if not 1 <= limit <= 200:
        raise ApiError(400, f"The limit must be between 1 and 200; got {limit}.")
    cursor = request.query_params.get("cursor")
    if cursor:
        found, after = decode_cursor(cursor, group)
        return PageRequest(group, limit, after, found)
    picked: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key in filters:
            picked.setdefault(key, []).append(value)
    return PageRequest(group, limit, 0, picked)


@router.get("/v2/webhooks")
def list_webhooks(
    request: Request, principal: Principal = Depends(require(READ)), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    page = _page(request, "webhooks", ("status", "enabled_events"))
    status = query.single(page.filters, "status")
    wanted = set(query.values(page.filters, "enabled_events") or [])
    records = sorted(
        (
            h
            for h in state.store.iter_shared(principal.tenant, WEBHOOKS)
            if (status is None or h["status"] == status) and (not wanted or wanted & set(h["enabled_events"]))
        ),
        key=lambda h: h["seq"],
    )
    chunk, next_after = take_page(records, page)
    return list_body(request, [render(h) for h in chunk], page, next_after, state.settings)


@router.post("/v2/webhooks", status_code=201)
async def create_webhook(
    request: Request, principal: Principal = Depends(require(WRITE)), state: PersonioState = Depends(get_state)
) -> JSONResponse:
    hooks = _hooks(state)
    body = await _json(request)
    now = format_utc(utc_now())
    with state.write_lock:
        hook = _apply(
            {"id": str(uuid.uuid4()), "seq": state.next_seq(), "custom_headers": []},
            body,
            hooks.settings.get()["allow_http_loopback"],
            creating=True,
        )
        if any(h["url"] == hook["url"] for h in state.store.iter_shared(principal.tenant, WEBHOOKS)):
            raise ApiError(409, f"A webhook for {hook['url']} exists already.")
        hook.update(created_at=now, updated_at=now)
        state.store.put(principal.tenant, WEBHOOKS, hook["id"], hook)
    return JSONResponse(render(hook), status_code=201)


@router.get("/v2/webhooks/{webhook_id}")
def get_webhook(
    webhook_id: str, principal: Principal = Depends(require(READ)), state: PersonioState = Depends(get_state)
) -> dict[str, Any]:
    return render(_find(state, principal.tenant, webhook_id))


@router.patch("/v2/webhooks/{webhook_id}")
async def update_webhook(
    webhook_id: str,
    request: Request,
    principal: Principal = Depends(require(WRITE)),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    hooks = _hooks(state)
    body = await _json(request)
    with state.write_lock:
        hook = _apply(
            _find(state, principal.tenant, webhook_id),
            body,
            hooks.settings.get()["allow_http_loopback"],
            creating=False,
        )
        if any(
            h["url"] == hook["url"] and h["id"] != webhook_id
            for h in state.store.iter_shared(principal.tenant, WEBHOOKS)
        ):
            raise ApiError(409, f"A webhook for {hook['url']} exists already.")
        hook["updated_at"] = format_utc(utc_now())
        state.store.put(principal.tenant, WEBHOOKS, webhook_id, hook)
    return render(hook)


@router.delete("/v2/webhooks/{webhook_id}", status_code=204)
def delete_webhook(
    webhook_id: str, principal: Principal = Depends(require(WRITE)), state: PersonioState = Depends(get_state)
) -> Response:
    with state.write_lock:
        _find(state, principal.tenant, webhook_id)
        state.store.delete(principal.tenant, WEBHOOKS, webhook_id)
    return Response(status_code=204)


@router.get("/v2/webhooks/{webhook_id}/events")
def webhook_events(
    webhook_id: str,
    request: Request,
    principal: Principal = Depends(require(READ)),
    state: PersonioState = Depends(get_state),
) -> dict[str, Any]:
    """The events sent (or being sent) for a webhook in the last 30 days, oldest first."""
    _find(state, principal.tenant, webhook_id)
    page = _page(request, "webhook-events", ("occurred_at.gte", "occurred_at.lte", "event_name"))
    since = query.instant(page.filters, "occurred_at.gte")
    until = query.instant(page.filters, "occurred_at.lte")
    names = set(query.values(page.filters, "event_name") or [])
    oldest = format_utc(utc_now() - timedelta(days=HISTORY_DAYS))
    records = sorted(
        (
            e
            for e in state.store.iter_shared(principal.tenant, EVENTS)
            if e["webhook_id"] == webhook_id
            and e["occurred_at"] >= oldest
            and (since is None or e["occurred_at"] >= since)
            and (until is None or e["occurred_at"] <= until)
            and (not names or e["event_name"] in names)
        ),
        key=lambda e: e["seq"],
    )
    chunk, next_after = take_page(records, page)
    return list_body(
        request, [{k: v for k, v in e.items() if k != "seq"} for e in chunk], page, next_after, state.settings
    )
