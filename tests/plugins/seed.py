"""Known staging content for the status page tests (written with hq_sync.staging.repository)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from hq_sync.staging import create_staging_engine, upgrade
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import quarantine, run_summaries
from tests.ops.harness import ago

OLD_RUN = "scheduled__2026-11-26T00:00:00+00:00"
PERSONIO_RUN = "scheduled__2026-11-27T00:00:00+00:00"
AWORK_RUN = "manual__2026-11-27T08:00:00+00:00"

# What a person must see (totals over the run's entities).
EXPECTED_COUNTS = {
    ("acme", "personio"): {"created": 5, "updated": 2, "deleted": 1, "skipped": 7, "quarantined": 3, "conflicts": 0},
    ("acme", "awork"): {"created": 11, "updated": 4, "deleted": 0, "skipped": 20, "quarantined": 14, "conflicts": 2},
    ("beta", "personio"): {"created": 0, "updated": 0, "deleted": 0, "skipped": 0, "quarantined": 0, "conflicts": 0},
}
EXPECTED_QUARANTINE = {  # held back: not in HQ
    ("acme", "awork"): {"unknown_email": 12, "billed_conflict": 2},
    ("acme", "personio"): {"unmapped_type": 3},
}
EXPECTED_WARNINGS = {  # written to HQ with a warning
    ("acme", "awork"): {"type_of_work_unmatched": 2},
}
# 12 time entries of 1.5 h from two people who are no HQ users yet: 8 of anna's, 4 of ben's.
UNKNOWN_EMAILS = ["anna.neu@acme.de" if i % 3 else "ben.neu@acme.de" for i in range(12)]


def _set_first_seen(conn, source_id: str, when: datetime) -> None:  # type: ignore[no-untyped-def]
    conn.execute(update(quarantine).where(quarantine.c.source_id == source_id).values(first_seen_at=when))


def seed(url: str) -> None:
    engine = create_staging_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        # acme / personio: an older run, then the latest one (the page must show the latest).
        repo.record_run_summary(conn, tenant="acme", source="personio", dag_id="personio_absences__acme",
                                run_id=OLD_RUN, entity="absence",
                                counts=repo.EntityCounts(created=99, updated=99, skipped=99))
        conn.execute(update(run_summaries).where(run_summaries.c.run_id == OLD_RUN).values(recorded_at=ago(days=1)))
        repo.record_run_summary(conn, tenant="acme", source="personio", dag_id="personio_absences__acme",
                                run_id=PERSONIO_RUN, entity="absence",
                                counts=repo.EntityCounts(created=5, updated=2, deleted=1, skipped=7, quarantined=3,
                                                         details={"quarantined": {"unmapped_type": 3}}))
        # acme / awork: two entities in one run.
        repo.record_run_summary(conn, tenant="acme", source="awork", dag_id="awork_times__acme", run_id=AWORK_RUN,
                                entity="time_entry",
                                counts=repo.EntityCounts(created=10, updated=4, skipped=20, quarantined=14, conflicts=2,
                                                         details={"conflicts": {"billed": 2}}))
        repo.record_run_summary(conn, tenant="acme", source="awork", dag_id="awork_times__acme", run_id=AWORK_RUN,
                                entity="task", counts=repo.EntityCounts(created=1))
        # acme / awork: 14 older runs every 6 hours (the charts' history; the latest run above stays the latest).
        for k in range(1, 15):
            run_id = f"scheduled__history-{k:02d}"
            repo.record_run_summary(conn, tenant="acme", source="awork", dag_id="awork_times__acme", run_id=run_id,
                                    entity="time_entry", counts=repo.EntityCounts(created=(k * 7) % 23, updated=k % 5,
                                                                                  quarantined=max(0, 14 - k)))
            conn.execute(update(run_summaries).where(run_summaries.c.run_id == run_id).values(recorded_at=ago(hours=6 * k)))
        # Open quarantine: 12 unknown e-mails (3 days old), 2 billed conflicts (1 day), 3 unmapped types (10 days).
        for i, email in enumerate(UNKNOWN_EMAILS):
            repo.quarantine_record(conn, tenant="acme", source="awork", entity="time_entry", source_id=f"te-{i}",
                                   reason="unknown_email", context={"email": email, "hours": 1.5},
                                   detail=f"no HQ user has the e-mail {email}; the reporting is booked once that user exists in HQ",
                                   run_id=AWORK_RUN)
            _set_first_seen(conn, f"te-{i}", ago(days=3, hours=i))
        for i in range(2):
            repo.quarantine_record(conn, tenant="acme", source="awork", entity="time_entry", source_id=f"billed-{i}",
                                   reason="billed_conflict", context={"hq_reporting_id": 700 + i, "change": "edited"},
                                   detail=f"time entry billed-{i} was edited in awork, but its HQ reporting {700 + i} is already billed; HQ was left unchanged",
                                   run_id=AWORK_RUN)
            _set_first_seen(conn, f"billed-{i}", ago(days=1))
        for i in range(3):
            repo.quarantine_record(conn, tenant="acme", source="personio", entity="absence_period", source_id=f"ap-{i}",
                                   reason="unmapped_type", context={"absence_type": "Sabbatical <script>", "email": f"p{i}@acme.de"},
                                   detail="Personio absence type 'Sabbatical <script>' maps to no HQ absence type",
                                   run_id=PERSONIO_RUN)
            _set_first_seen(conn, f"ap-{i}", ago(days=10))
        # Written with a warning: two tasks got HQ's default task type.
        for i in range(2):
            repo.quarantine_record(conn, tenant="acme", source="awork", entity="task", source_id=f"task-{i}",
                                   reason="type_of_work_unmatched", context={"type_of_work": "Konzeption"},
                                   detail=f"awork task 'T{i}': type of work 'Konzeption' has no HQ task type of that name",
                                   run_id=AWORK_RUN)
        # A resolved item: not open, not shown.
        repo.quarantine_record(conn, tenant="acme", source="personio", entity="absence_period", source_id="ap-old",
                               reason="unknown_email", detail="resolved long ago", context={"email": "old@acme.de"})
        repo.resolve_quarantine(conn, tenant="acme", source="personio", entity="absence_period", source_id="ap-old")
    engine.dispose()
