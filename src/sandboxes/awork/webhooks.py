"""awork v1 workspace webhooks: ``/api/v1/webhooks`` and deliveries (issue #14; awork.md §7, §8.8).

Management: ``GET``/``POST /webhooks`` (``name``, ``uri``, ``events`` as a comma-separated string,
``isActive``, ``authenticationType`` ``none``/``header``, ``authentication`` ``"Header=value"``;
create answers 200 ``WebhookConfig``), ``GET``/``PUT``/``DELETE /webhooks/{id}`` (PUT replaces;
delete 204; 404 when unknown), ``GET /webhooks/eventtypes``, ``GET /webhooks/{id}/logs``.

Deliveries: every change made through the API (whatever route writes a time entry, project, task,
task list or company) fires ``<type>_added`` / ``_updated`` / ``_deleted`` to each active webhook
of the workspace subscribed to it: ``{timestamp, eventType, entity, entityId, entityType,
entityLink, traceId, triggeredBy, changes}`` with the full model. Changes made in one request share
its ``traceId``. A project change also fires ``timetracking_updated`` for every time entry of the
project (reported by a peer, switch ``project_change_fires_time_entries``): expect bursts.
Rules: answer 2xx within ``timeout_seconds`` (30); any failure is retried up to 10 times; after more
than ``pause_after_failures`` (10) failed attempts in a row the webhook is paused (``isActive``
false, ``lastFailureReason`` set) until re-enabled (``PUT`` with ``isActive: true``).
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.clock import new_guid, now_iso
from sandboxes.awork.errors import AworkError, validation_failed
from sandboxes.awork.listing import json_response
from sandboxes.awork.render import Lookups
from sandboxes.awork.routes.common import Form, no_content, read_json
from sandboxes.awork.state import COMPANIES, PROJECTS, TASK_LISTS, TASKS, TIME_ENTRIES, AworkState, Ctx
from sandboxes.common.webhooks import Deliveries, Delivery, Rules, WebhookSettings, check_delays, check_positive

router = APIRouter(prefix="/api/v1")

WEBHOOKS = "webhooks"
EVENT_TYPES = (
    "absence_added",
    "absence_deleted",
    "absence_updated",
    "company_added",
    "company_deleted",
    "company_type_changed",
    "company_updated",
    "project_added",
    "project_comment_added",
    "project_deleted",
    "projectmember_added",
    "projectmember_deleted",
    "project_status_changed",
    "project_type_changed",
    "project_updated",
    "task_added",
    "taskassignment_added",
    "taskassignment_deleted",
    "task_comment_added",
    "task_deleted",
    "task_status_changed",
    "task_type_changed",
    "task_updated",
    "tasklist_added",
    "tasklist_deleted",
    "tasklist_updated",
    "timetracking_added",
    "timetracking_deleted",
    "timetracking_type_changed",
    "timetracking_updated",
    "user_activation_changed",
    "user_added",
    "user_deleted",
    "user_status_changed",
    "user_updated",
)
# Store kind → (event prefix, entityType, renderer name of Lookups)
KINDS = {
    TIME_ENTRIES: ("timetracking", "timetracking", "time_entry"),
    PROJECTS: ("project", "project", "project"),
    TASKS: ("task", "task", "task"),
    TASK_LISTS: ("tasklist", "tasklist", "task_list"),
    COMPANIES: ("company", "company", "company"),
}

DEFAULTS: dict[str, Any] = {
    "timeout_seconds": 30.0,
    "retries": 10,
    # awork's retry schedule is not published; compressed here.
    "retry_delays": [0.5, 1.0, 2.0, 4.0, 8.0],
    "pause_after_failures": 10,
    "project_change_fires_time_entries": True,
}


def _validate(values: dict[str, Any]) -> None:
    check_positive(values["timeout_seconds"], "timeout_seconds")
    for name in ("retries", "pause_after_failures"):
        if not isinstance(values[name], int) or isinstance(values[name], bool) or values[name] < 0:
            raise ValueError(f"{name!r} must be a non-negative integer")
    check_delays(values["retry_delays"], "retry_delays")
    if not isinstance(values["project_change_fires_time_entries"], bool):
        raise ValueError("'project_change_fires_time_entries' must be true or false")


class AworkWebhooks:
    """Settings, change hook and deliveries of one awork sandbox."""

    def __init__(self, state: AworkState) -> None:
        self.state = state
        self.settings = WebhookSettings(DEFAULTS, _validate)
        self.deliveries = Deliveries("awork", self._rules, on_done=self._done)
        self._lock = threading.Lock()

    def _rules(self) -> Rules:
        s = self.settings.get()
        return Rules(
            timeout=float(s["timeout_seconds"]),
            attempts=1 + int(s["retries"]),
            quick_tries=1,
            retry_delays=list(s["retry_delays"]),
            retried=lambda status: True,
        )

    def _done(self, delivery: Delivery) -> None:
        """Count consecutive failed attempts per webhook; pause it after too many."""
        with self._lock:
            hook = self.state.store.get(delivery.tenant, WEBHOOKS, delivery.webhook_id)
            if hook is None:
                return
            if delivery.outcome == "delivered":
                hook["_failures"] = 0
            else:
                hook["_failures"] = hook.get("_failures", 0) + len(delivery.attempts)
                last = delivery.attempts[-1] if delivery.attempts else {}
                reason = last.get("status") or last.get("error")
                hook["lastFailureReason"] = f"delivery failed: {reason}"
                if hook["_failures"] > int(self.settings.get()["pause_after_failures"]) and hook["isActive"]:
                    hook["isActive"] = False
                    hook["lastFailureReason"] = f"paused after {hook['_failures']} failed attempts (last: {reason})"
            self.state.store.put(delivery.tenant, WEBHOOKS, hook["id"], hook)

    def reset(self) -> None:
        self.settings.reset()
        self.deliveries.reset()

    # -- events ----------------------------------------------------------------------------
    def changed(self, ctx: Ctx, kind: str, record: dict[str, Any], what: str) -> None:
        """The ``Ctx`` hook: ``record`` of ``kind`` was added, updated or deleted through the API."""
        if kind not in KINDS:
            return
        hooks = [h for h in self.state.store.iter_shared(ctx.tenant, WEBHOOKS) if h["isActive"]]
        if not hooks:
            return
        prefix, entity_type, renderer = KINDS[kind]
        lookups = Lookups(ctx)
        events = [(f"{prefix}_{what}", entity_type, self._render(lookups, renderer, record))]
        if kind == PROJECTS and what == "updated" and self.settings.get()["project_change_fires_time_entries"]:
            for entry in ctx.all(TIME_ENTRIES):
                if entry.get("projectId") == record["id"]:
                    events.append(("timetracking_updated", "timetracking", self._render(lookups, "time_entry", entry)))
        workspace = (self.state.tenant(ctx.tenant) or {}).get("url") or f"https://{ctx.tenant}.awork.com"
        trace = ctx.trace_id or new_guid().replace("-", "")
        for event_type, entity_kind, entity in events:
            body = {
                "timestamp": now_iso(),
                "eventType": event_type,
                "entity": entity,
                "entityId": entity.get("id"),
                "entityType": entity_kind,
                "entityLink": f"{workspace}/{entity_kind}/{entity.get('id')}",
                "traceId": trace,
                "triggeredBy": {"id": ctx.user_id},
                "changes": [],
            }
            for hook in hooks:
                if event_type not in _events_of(hook):
                    continue
                headers = {"Content-Type": "application/json", "User-Agent": "awork-webhooks/sandbox"}
                if hook["authenticationType"] == "header" and hook.get("authentication"):
                    name, _, value = hook["authentication"].partition("=")
                    headers[name.strip()] = value
                self.deliveries.send(ctx.tenant, hook["id"], hook["uri"], event_type, body, headers)

    @staticmethod
    def _render(lookups: Lookups, renderer: str, record: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(getattr(lookups, renderer)(record))
        except Exception:  # noqa: BLE001 - a record a renderer cannot show (e.g. mid-deletion): the raw fields
            return {k: v for k, v in record.items() if not k.startswith("_")}


def _events_of(hook: dict[str, Any]) -> set[str]:
    return {e.strip() for e in str(hook.get("events") or "").split(",") if e.strip()}


_BY_STATE: dict[int, AworkWebhooks] = {}  # id(state) → its webhooks (one app per state, for the process's life)


def install(app: FastAPI, state: AworkState) -> AworkWebhooks:
    """Add the webhook routes, hook every API change, and reset with ``POST /_sandbox/reset``."""
    hooks = AworkWebhooks(state)
    _BY_STATE[id(state)] = hooks
    state.on_change = hooks.changed
    app.include_router(router)
    app.include_router(hooks.deliveries.router(hooks.settings.get, hooks.settings.update))
    original = state.reset

    def reset() -> None:
        original()
        hooks.reset()

    state.reset = reset  # type: ignore[method-assign]
    return hooks


# -- management API ----------------------------------------------------------------------------
def render(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if not k.startswith("_")}


def _form(body: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    form = Form(body, "webhook")
    name = form.string("name", max_length=200)
    uri = form.string("uri", required=True)
    events = form.string("events", required=True)
    auth_type = form.string("authenticationType") or "none"
    authentication = form.string("authentication")
    language = form.string("language")
    form.check()
    is_active = form.raw("isActive")
    only_main = form.raw("onlyTriggerForMainEntityChanges")
    errors: list[tuple[str, str]] = []
    if not str(uri or "").startswith(("http://", "https://")):
        errors.append(("Uri", "The uri must be an absolute http(s) URL."))
    wanted = [e.strip() for e in str(events or "").split(",") if e.strip()]
    unknown = sorted(set(wanted) - set(EVENT_TYPES))
    if not wanted or unknown:
        errors.append(
            ("Events", f"Unknown event types: {unknown}." if unknown else "At least one event type is required.")
        )
    if auth_type not in ("none", "header"):
        errors.append(("AuthenticationType", "The authentication type must be 'none' or 'header'."))
    if auth_type == "header" and (not authentication or "=" not in authentication):
        errors.append(("Authentication", "Header authentication needs 'HeaderName=value'."))
    if not isinstance(is_active, bool):
        errors.append(("IsActive", "IsActive is required (true or false)."))
    if errors:
        raise validation_failed(errors)
    return {
        "name": name,
        "uri": uri,
        "events": ",".join(dict.fromkeys(wanted)),
        "isActive": bool(is_active),
        "authenticationType": auth_type,
        "authentication": authentication if auth_type == "header" else None,
        "language": language,
        "onlyTriggerForMainEntityChanges": bool(only_main),
        "receiverType": "custom",
    }


def _find(ctx: Ctx, webhook_id: str) -> dict[str, Any]:
    hook = ctx.get(WEBHOOKS, webhook_id)
    if hook is None:
        raise AworkError(404, "not-found", "The requested resource was not found.")
    return hook


@router.get("/webhooks")
async def list_webhooks(ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response([render(h) for h in ctx.all(WEBHOOKS)])


@router.get("/webhooks/eventtypes")
async def event_types(ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(list(EVENT_TYPES))


@router.post("/webhooks")
async def create_webhook(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    hook = _form(await read_json(request))
    hook = ctx.stamp_new({"id": None, **hook, "lastFailureReason": None, "_failures": 0})
    ctx.state.store.put(ctx.tenant, WEBHOOKS, hook["id"], hook)
    return json_response(render(hook))


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(render(_find(ctx, webhook_id)))


@router.put("/webhooks/{webhook_id}")
async def update_webhook(webhook_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    hook = _find(ctx, webhook_id)
    changes = _form(await read_json(request))
    if changes["isActive"] and not hook["isActive"]:  # re-enabled: the failure count starts over
        hook.update(_failures=0, lastFailureReason=None)
    hook.update(changes)
    hook = ctx.stamp_update(hook)
    ctx.state.store.put(ctx.tenant, WEBHOOKS, webhook_id, hook)
    return json_response(render(hook))


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    _find(ctx, webhook_id)
    ctx.state.store.delete(ctx.tenant, WEBHOOKS, webhook_id)
    return no_content()


@router.get("/webhooks/{webhook_id}/logs")
async def webhook_logs(webhook_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    _find(ctx, webhook_id)
    hooks = _BY_STATE.get(id(ctx.state))
    items = [d.as_dict() for d in (hooks.deliveries.log if hooks else []) if d.webhook_id == webhook_id][-100:]
    return json_response(
        [
            {
                "eventType": d["event_name"],
                "outcome": d["outcome"],
                "attempts": d["attempts"],
                "createdOn": d["created_at"],
            }
            for d in items
        ]
    )
