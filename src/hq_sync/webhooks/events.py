"""The vendors' webhook envelopes, validated into ``InboxEvent`` (docs/webhooks.md#envelopes).

Personio v2 (``shared/api/webhooks.md``)::

    {"company_id": "…", "event_name": "absence-period.updated.status", "occurred_at": "…",
     "payload": {"id": "<uuid>", …}, "meta": {…}}

awork v1 (``shared/api/awork.md`` §8.8)::

    {"timestamp": "…", "eventType": "timetracking_updated", "entityId": "…", "entityType": "…",
     "entity": {…}, "traceId": "…", "triggeredBy": {…}, "changes": […]}

Neither vendor sends an event id. An event's **identity key** is derived from what identifies the
event rather than the delivery, so that a redelivery maps to the same key and is stored once:

- Personio: company, event name, ``occurred_at`` (normalised to UTC) and the payload;
- awork: event type, entity id and ``traceId`` (one per triggering request: the burst of
  ``timetracking_updated`` a project change fires shares it, but every entry has its own id);
  without a ``traceId``, the timestamp instead.

What the sync does not use (awork absences, comments, companies; Personio employments) is valid
but *irrelevant*: the receiver answers 2xx and records nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from hq_sync.timeutil import parse_timestamp


class EnvelopeError(ValueError):
    """A delivery whose body is not the vendor's envelope; the message names the field."""


class EntityType(StrEnum):
    """What an event is about, as far as the sync cares."""

    ABSENCE_PERIOD = "absence_period"
    PERSON = "person"
    TIME_ENTRY = "time_entry"
    PROJECT = "project"
    TASK = "task"
    TASK_LIST = "task_list"
    USER = "user"


# Event name prefix → entity. Anything else is irrelevant to the sync.
PERSONIO_ENTITIES = {"absence-period.": EntityType.ABSENCE_PERIOD, "person.": EntityType.PERSON}
AWORK_ENTITIES = {
    "timetracking_": EntityType.TIME_ENTRY,
    "projectmember_": None,
    "project_comment_": None,
    "project_": EntityType.PROJECT,
    "task_comment_": None,
    "taskassignment_": None,
    "task_": EntityType.TASK,
    "tasklist_": EntityType.TASK_LIST,
    "user_": EntityType.USER,
}
# The events the registration subscribes to (hq_sync.connect.webhooks).
PERSONIO_EVENTS = (
    "absence-period.created",
    "absence-period.updated.timerange",
    "absence-period.updated.status",
    "absence-period.deleted",
    "person.created",
    "person.updated",
    "person.deleted",
)
AWORK_EVENTS = (
    "timetracking_added",
    "timetracking_updated",
    "timetracking_deleted",
    "timetracking_type_changed",
    "project_updated",
    "project_deleted",
    "tasklist_added",
    "tasklist_updated",
    "tasklist_deleted",
    "task_added",
    "task_updated",
    "task_deleted",
    "task_type_changed",
    "user_added",
    "user_updated",
)


@dataclass(frozen=True)
class InboxEvent:
    """One validated event, ready for the inbox."""

    source: str  # personio | awork
    event_key: str
    event_name: str
    entity_type: EntityType | None  # None: irrelevant to the sync
    entity_id: str | None
    occurred_at: datetime | None
    envelope: dict[str, Any]

    @property
    def relevant(self) -> bool:
        return self.entity_type is not None


def _key(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise EnvelopeError(f"{name!r} is required")
        return None
    if not isinstance(value, str | int):
        raise EnvelopeError(f"{name!r} must be a string")
    return str(value)


def _instant(body: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    raw = _text(body, name, required=required)
    if raw is None:
        return None
    try:
        parsed = parse_timestamp(raw)
    except ValueError as exc:
        raise EnvelopeError(f"{name!r} is not an ISO 8601 date-time: {raw!r}") from exc
    return parsed.astimezone(UTC) if parsed else None


def _entity(event_name: str, table: Mapping[str, EntityType | None]) -> EntityType | None:
    for prefix, entity in table.items():
        if event_name.startswith(prefix):
            return entity
    return None


def parse_personio(body: Any) -> InboxEvent:
    """A Personio v2 delivery (or an item of its event history) as an ``InboxEvent``."""
    if not isinstance(body, dict):
        raise EnvelopeError("the body must be a JSON object")
    company = _text(body, "company_id")
    name = _text(body, "event_name")
    assert name is not None
    occurred = _instant(body, "occurred_at", required=True)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise EnvelopeError("'payload' must be an object")
    if body.get("meta") is not None and not isinstance(body.get("meta"), dict):
        raise EnvelopeError("'meta' must be an object when present")
    entity = _entity(name, PERSONIO_ENTITIES)
    entity_id = payload.get("id")
    if entity is not None and (entity_id is None or entity_id == ""):
        raise EnvelopeError(f"'payload.id' is required for {name!r}")
    envelope = {k: body[k] for k in ("company_id", "event_name", "occurred_at", "payload", "meta") if k in body}
    return InboxEvent(
        source="personio",
        event_key=_key("personio", company, name, occurred.isoformat() if occurred else None, payload),
        event_name=name,
        entity_type=entity,
        entity_id=str(entity_id) if entity_id not in (None, "") else None,
        occurred_at=occurred,
        envelope=envelope,
    )


def parse_awork(body: Any) -> InboxEvent:
    """An awork v1 workspace webhook delivery as an ``InboxEvent``."""
    if not isinstance(body, dict):
        raise EnvelopeError("the body must be a JSON object")
    name = _text(body, "eventType")
    assert name is not None
    entity_body = body.get("entity")
    if entity_body is not None and not isinstance(entity_body, dict):
        raise EnvelopeError("'entity' must be an object when present")
    entity_id = _text(body, "entityId", required=False) or (
        str(entity_body["id"]) if entity_body and entity_body.get("id") else None
    )
    if entity_id is None:
        raise EnvelopeError("'entityId' is required")
    occurred = _instant(body, "timestamp", required=False)
    trace = _text(body, "traceId", required=False)
    identity = trace if trace else (occurred.isoformat() if occurred else None)
    if identity is None:
        raise EnvelopeError("'traceId' or 'timestamp' is required")
    return InboxEvent(
        source="awork",
        event_key=_key("awork", name, entity_id.lower(), identity),
        event_name=name,
        entity_type=_entity(name, AWORK_ENTITIES),
        entity_id=entity_id.lower(),
        occurred_at=occurred,
        envelope=body,
    )


PARSERS = {"personio": parse_personio, "awork": parse_awork}


def parse_event(source: str, body: Any) -> InboxEvent:
    """Validate a delivery of ``source``; raises ``EnvelopeError`` naming the problem."""
    return PARSERS[source](body)
