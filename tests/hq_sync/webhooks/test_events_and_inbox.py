"""Envelopes, identity keys, the inbox and the forwarder's coalescing (issue #14).

The inbox and forwarder run on SQLite and on PostgreSQL (when it answers).
"""

from __future__ import annotations

import pytest

from hq_sync.webhooks import inbox
from hq_sync.webhooks.auth import StoredSecrets, matches, rotated_extra
from hq_sync.webhooks.events import EntityType, EnvelopeError, parse_awork, parse_personio
from hq_sync.webhooks.forwarder import AssetForwarder
from tests.webhook_support import awork_envelope, personio_envelope


def test_personio_redelivery_has_the_same_key_whatever_the_time_format():
    first = parse_personio(personio_envelope("p-1", occurred_at="2026-11-27T10:15:00Z"))
    again = parse_personio({**personio_envelope("p-1", occurred_at="2026-11-27T11:15:00.000+01:00"),
                            "meta": {"attempt": 2}})
    assert first.event_key == again.event_key
    assert (first.entity_type, first.entity_id) == (EntityType.ABSENCE_PERIOD, "p-1")
    other = parse_personio(personio_envelope("p-1", occurred_at="2026-11-27T10:16:00Z"))
    assert other.event_key != first.event_key  # a later change of the same period is its own event


def test_awork_burst_events_share_a_trace_but_not_a_key():
    keys = {parse_awork(awork_envelope(f"e-{i}", trace="t")).event_key for i in range(50)}
    assert len(keys) == 50
    assert parse_awork(awork_envelope("E-1", trace="t")).event_key == parse_awork(awork_envelope("e-1", trace="t")).event_key


@pytest.mark.parametrize(("body", "field"), [
    ([], "JSON object"),
    ({"event_name": "absence-period.created", "occurred_at": "2026-01-01T00:00:00Z", "payload": {"id": "x"}}, "company_id"),
    ({**personio_envelope("x"), "occurred_at": "yesterday"}, "occurred_at"),
    ({**personio_envelope("x"), "payload": "x"}, "payload"),
    (personio_envelope(""), "payload.id"),
])
def test_personio_envelope_errors_name_the_field(body, field):
    with pytest.raises(EnvelopeError, match=field):
        parse_personio(body)


def test_awork_envelope_errors_and_irrelevant_events():
    with pytest.raises(EnvelopeError, match="eventType"):
        parse_awork({"entityId": "x", "traceId": "t"})
    with pytest.raises(EnvelopeError, match="entityId"):
        parse_awork({"eventType": "timetracking_added", "traceId": "t"})
    assert not parse_awork({**awork_envelope("x"), "eventType": "absence_added"}).relevant
    assert not parse_awork({**awork_envelope("x"), "eventType": "task_comment_added"}).relevant
    assert parse_awork({**awork_envelope("x"), "eventType": "tasklist_updated"}).entity_type is EntityType.TASK_LIST


def test_secrets_compare_every_candidate_and_keep_the_previous_one_for_a_grace_period():
    assert matches("s3cret", ["other", "s3cret"]) and not matches("s3cre", ["s3cret"]) and not matches(None, ["x"])
    extra = rotated_extra({"app_id": "X", "webhook_secret": "old"}, "new")
    stored = StoredSecrets.from_extra(extra)
    assert extra["app_id"] == "X" and stored.accepted() == ["new", "old"]
    from datetime import UTC, datetime, timedelta

    assert stored.accepted(datetime.now(UTC) + timedelta(hours=1)) == ["new"]


def test_inbox_stores_a_redelivered_event_once_and_runs_consume_it(staging_engine):
    event = parse_personio(personio_envelope("p-1"))
    with staging_engine.begin() as conn:
        first = inbox.record(conn, "acme", event)
        again = inbox.record(conn, "acme", event)
        other_tenant = inbox.record(conn, "beta", event)
    assert (first.duplicate, again.duplicate, first.id == again.id) == (False, True, True)
    assert not other_tenant.duplicate
    with staging_engine.begin() as conn:
        [hint] = inbox.pending(conn, "acme", "personio")
        assert hint.entity_id == "p-1"
        assert inbox.consume(conn, [hint.id], "run-1") == 1
        assert inbox.pending(conn, "acme", "personio") == []
        assert len(inbox.pending(conn, "beta", "personio")) == 1


def test_forwarder_turns_a_burst_into_one_asset_event_then_one_per_cooldown(staging_engine):
    now = [1000.0]
    emitted: list[tuple[str, str, dict]] = []
    forwarder = AssetForwarder(staging_engine, lambda t, s, extra: emitted.append((t, s, extra)) or True,
                               cooldown=10.0, clock=lambda: now[0])

    def record(tenant: str, n: int, start: int = 0) -> None:
        with staging_engine.begin() as conn:
            for i in range(start, start + n):
                inbox.record(conn, tenant, parse_awork(awork_envelope(f"e-{i}", trace="burst")))

    record("acme", 500)
    record("beta", 1)
    forwarder.run_once()
    assert sorted((t, s, e["events"]) for t, s, e in emitted) == [("acme", "awork", 500), ("beta", "awork", 1)]
    record("acme", 20, start=500)  # still in the cool-down: held back
    now[0] += 3
    assert forwarder.run_once() == pytest.approx(7.0)
    assert len(emitted) == 2
    now[0] += 7
    forwarder.run_once()
    assert [(t, e["events"]) for t, _, e in emitted[2:]] == [("acme", 20)]


def test_forwarder_keeps_events_when_airflow_fails_and_notes_tenants_nobody_listens_to(staging_engine):
    calls = []

    def emit(tenant: str, source: str, extra: dict) -> bool:
        calls.append(tenant)
        if len(calls) == 1:
            raise RuntimeError("metadata database unreachable")
        return tenant != "ghost"

    now = [0.0]
    forwarder = AssetForwarder(staging_engine, emit, cooldown=1.0, clock=lambda: now[0])
    with staging_engine.begin() as conn:
        inbox.record(conn, "acme", parse_personio(personio_envelope("p-1")))
    forwarder.run_once()
    with staging_engine.connect() as conn:
        assert inbox.unforwarded_groups(conn) == [("acme", "personio")]  # released for another try
    now[0] += 10
    forwarder.run_once()
    with staging_engine.begin() as conn:
        assert inbox.unforwarded_groups(conn) == []
        inbox.record(conn, "ghost", parse_personio(personio_envelope("p-2")))
    forwarder.run_once()
    assert [h.outcome for h in forwarder.history] == ["failed", "emitted", "no_listener"]


def test_time_stamps_with_a_fraction_keep_their_offset():
    """awork's webhook timestamps look like this; the offset used to be eaten with the fraction."""
    from datetime import UTC, datetime

    from hq_sync.timeutil import parse_timestamp

    assert parse_timestamp("2025-07-24T14:28:39.5966465+01:00") == datetime(2025, 7, 24, 13, 28, 39, 596646, UTC)
    assert parse_timestamp("2026-11-27T11:15:00.000+01:00") == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    assert parse_timestamp("2023-09-03T20:28:39.5961826Z") == datetime(2023, 9, 3, 20, 28, 39, 596182, UTC)
