"""Staging semantics, run on SQLite and on PostgreSQL (when it answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hq_sync.staging import repository as repo
from hq_sync.staging.migrate import upgrade
from hq_sync.staging.schema import metadata, personio_absence_periods

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def period(source_id: str, updated: datetime | None, **payload: object) -> dict[str, object]:
    body = {"id": source_id, "comment": "x", **payload}
    return {
        "source_id": source_id,
        "source_updated_at": updated,
        "payload": body,
        "person_id": "p1",
        "absence_type_id": "t1",
        "starts_at": "2026-03-02T00:00:00",
        "starts_half": None,
        "ends_at": "2026-03-03T00:00:00",
        "ends_half": None,
        "approval_status": "APPROVED",
    }


def stage(engine, tenant, rows):
    with engine.begin() as conn:
        return repo.upsert_source_records(conn, personio_absence_periods, tenant, rows)


def staged(engine, tenant, source_id):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(personio_absence_periods).where(
                personio_absence_periods.c.tenant == tenant,
                personio_absence_periods.c.source_id == source_id,
            )
        ).one()


def test_migrations_build_exactly_the_schema_the_code_uses(staging_engine):
    upgrade(staging_engine)  # a second upgrade is a no-op
    with staging_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "hq_sync_alembic_version")] == []


def test_insert_then_newer_version_updates(staging_engine):
    first = stage(staging_engine, "acme", [period("a1", T0, comment="old")])
    assert (first.inserted, first.updated) == (1, 0)
    second = stage(staging_engine, "acme", [period("a1", T0 + timedelta(hours=1), comment="new")])
    assert (second.inserted, second.updated) == (0, 1)
    row = staged(staging_engine, "acme", "a1")
    assert row.payload["comment"] == "new"
    assert row.source_updated_at == T0 + timedelta(hours=1)
    assert row.source_updated_at.tzinfo is not None


def test_older_version_never_overwrites_newer(staging_engine):
    stage(staging_engine, "acme", [period("a1", T0 + timedelta(hours=2), comment="newest")])
    result = stage(staging_engine, "acme", [period("a1", T0, comment="older")])
    assert result.stale == 1 and result.updated == 0
    assert staged(staging_engine, "acme", "a1").payload["comment"] == "newest"


def test_same_version_again_is_unchanged_and_only_bumps_last_seen(staging_engine):
    stage(staging_engine, "acme", [period("a1", T0)])
    before = staged(staging_engine, "acme", "a1")
    result = stage(staging_engine, "acme", [period("a1", T0)])
    after = staged(staging_engine, "acme", "a1")
    assert result.unchanged == 1
    assert after.first_seen_at == before.first_seen_at
    assert after.last_seen_at >= before.last_seen_at


def test_tenants_are_kept_apart(staging_engine):
    stage(staging_engine, "acme", [period("a1", T0, comment="acme's")])
    stage(staging_engine, "globex", [period("a1", T0 + timedelta(days=1), comment="globex's")])
    assert staged(staging_engine, "acme", "a1").payload["comment"] == "acme's"
    assert staged(staging_engine, "globex", "a1").payload["comment"] == "globex's"


def test_deleted_record_that_reappears_is_undeleted(staging_engine):
    stage(staging_engine, "acme", [period("a1", T0)])
    with staging_engine.begin() as conn:
        assert repo.mark_source_deleted(conn, personio_absence_periods, "acme", ["a1"]) == 1
    assert staged(staging_engine, "acme", "a1").deleted_at is not None
    result = stage(staging_engine, "acme", [period("a1", T0)])
    assert result.updated == 1
    assert staged(staging_engine, "acme", "a1").deleted_at is None


def test_link_lifecycle_pending_then_synced(staging_engine):
    key = {"tenant": "acme", "source": "personio", "entity": "absence_period", "source_id": "a1"}
    with staging_engine.begin() as conn:
        repo.save_link(conn, **key, hq_entity="Absence", state="pending", written={"Type": "Vacation"})
    with staging_engine.begin() as conn:
        link = repo.get_link(conn, **key)
        assert link.state == "pending" and link.hq_id is None and link.synced_at is None
        repo.save_link(
            conn,
            **key,
            hq_entity="Absence",
            state="synced",
            hq_id="42",
            hq_parent_id="7",
            written={"Type": "Vacation"},
        )
    with staging_engine.connect() as conn:
        link = repo.get_link(conn, **key)
        assert (link.state, link.hq_id, link.hq_parent_id) == ("synced", "42", "7")
        assert link.fingerprint == repo.written_fingerprint({"Type": "Vacation"})
        assert [l.source_id for l in repo.links(conn, "acme", "personio", "absence_period")] == ["a1"]


def test_quarantine_refresh_resolve_and_reopen(staging_engine):
    key = {"tenant": "acme", "source": "awork", "entity": "time_entry", "source_id": "te1"}
    with staging_engine.begin() as conn:
        repo.quarantine_record(conn, **key, reason="unknown_email", detail="x@y has no HQ user", run_id="r1")
    with staging_engine.begin() as conn:
        first = repo.open_quarantine(conn, "acme")[0]
        repo.quarantine_record(conn, **key, reason="unknown_email", detail="still unknown", run_id="r2")
    with staging_engine.begin() as conn:
        [item] = repo.open_quarantine(conn, "acme")
        assert item["first_seen_at"] == first["first_seen_at"]  # age kept while open
        assert (item["detail"], item["last_run_id"]) == ("still unknown", "r2")
        assert repo.resolve_quarantine(conn, **key) == 1
        assert repo.open_quarantine(conn, "acme") == []
    with staging_engine.begin() as conn:
        repo.quarantine_record(conn, **key, reason="unknown_email", detail="back again", run_id="r3")
        [item] = repo.open_quarantine(conn, "acme")
        assert item["resolved_at"] is None and item["detail"] == "back again"


def test_run_summary_is_replaced_when_a_run_is_rerun(staging_engine):
    counts = repo.EntityCounts()
    counts.count("created", n=3)
    counts.count("quarantined", "unknown_email", n=2)
    run = {"tenant": "acme", "source": "personio", "dag_id": "personio_absences__acme", "run_id": "r1"}
    with staging_engine.begin() as conn:
        repo.record_run_summary(conn, **run, entity="absence", counts=counts)
    rerun = repo.EntityCounts(skipped=3)
    with staging_engine.begin() as conn:
        repo.record_run_summary(conn, **run, entity="absence", counts=rerun)
    with staging_engine.connect() as conn:
        summary = repo.run_summary(conn, "personio_absences__acme", "r1")
    assert summary["absence"].skipped == 3 and summary["absence"].created == 0


def test_cursor_roundtrip(staging_engine):
    with staging_engine.begin() as conn:
        assert repo.get_cursor(conn, "acme", "personio", "absence_period") is None
        repo.set_cursor(conn, "acme", "personio", "absence_period", "2026-03-01T09:00:00Z")
        repo.set_cursor(conn, "acme", "personio", "absence_period", "2026-03-02T09:00:00Z")
        assert repo.get_cursor(conn, "acme", "personio", "absence_period") == "2026-03-02T09:00:00Z"


def test_a_load_reads_the_plan_in_chunks_with_each_chunks_links(staging_engine):
    """Issue #12 (flat memory at 10x): the loaders hold one chunk of the plan and its links, not the
    whole plan; every planned record comes exactly once, in source-id order, and a later chunk sees
    the links the chunks before it wrote."""
    with staging_engine.begin() as conn:
        for i in range(5):
            repo.save_plan(
                conn,
                tenant="acme",
                source="awork",
                entity="time_entry",
                source_id=f"e{i}",
                plan="wanted",
                hq_parent_id="7",
                body={"n": i},
            )
        repo.save_plan(
            conn, tenant="acme", source="awork", entity="task", source_id="e9", plan="wanted"
        )  # other entity
        repo.save_plan(conn, tenant="other", source="awork", entity="time_entry", source_id="e1", plan="wanted")
        repo.save_link(
            conn,
            tenant="acme",
            source="awork",
            entity="time_entry",
            source_id="e1",
            hq_entity="Reporting",
            state="synced",
            hq_id="101",
            hq_parent_id="7",
        )
        assert repo.count_plans(conn, "acme", "awork", "time_entry") == 5

    chunks = repo.plan_chunks(staging_engine, "acme", "awork", "time_entry", 2)
    part, links = next(chunks)
    assert [p.source_id for p in part] == ["e0", "e1"] and set(links) == {"e1"} and links["e1"].hq_id == "101"
    with staging_engine.begin() as conn:  # the load of the first chunk links a record of the next one
        repo.save_link(
            conn,
            tenant="acme",
            source="awork",
            entity="time_entry",
            source_id="e3",
            hq_entity="Reporting",
            state="pending",
            hq_parent_id="7",
        )
    rest = list(chunks)
    assert [[p.source_id for p in part] for part, _ in rest] == [["e2", "e3"], ["e4"]]
    assert rest[0][1]["e3"].state == "pending" and set(rest[1][1]) == set()
