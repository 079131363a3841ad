"""Personio → HQ absences end to end (B1–B7): dag.test() against the sandboxes over HTTP."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sandboxes.hq.seed import seed_tenant as seed_hq
from sandboxes.personio.seed import seed_tenant as seed_personio
from tests.e2e.conftest import TENANT, PersonioAdmin

TODAY = datetime.now(ZoneInfo("Europe/Berlin")).date()
BERLIN = ZoneInfo("Europe/Berlin")


def d(days: int) -> date:
    return TODAY + timedelta(days=days)


def day(days: int, hour: int = 0) -> str:
    return datetime.combine(d(days), time(hour)).strftime("%Y-%m-%dT%H:%M:%S")


def utc(days: int, hour: int, minute: int = 0) -> str:
    local = datetime.combine(d(days), time(hour, minute), BERLIN)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_of_next_month_exclusive() -> str:
    year, month = (TODAY.year + (TODAY.month // 12), TODAY.month % 12 + 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    return datetime.combine(last + timedelta(days=1), time()).strftime("%Y-%m-%dT%H:%M:%S")


TENANT_FILE = {
    "id": TENANT,
    "display_name": "ACME Werbeagentur",
    "timezone": "Europe/Berlin",
    "sources": {
        "personio": {
            "sync_start_date": d(-30).isoformat(),
            "absence_type_mapping": {"Remote Arbeit": "Homeoffice, Workation"},
        }
    },
}

HQ_SECTION = {
    "sync_token": "hq-acme-sync",
    "user_tokens": {"anna.berg@acme.example": "hq-acme-anna"},
    "personio_sync": True,  # B7: HQ users cannot edit absences; the sync token can
    "users": [
        {"name": "Anna Berg", "email": "anna.berg@acme.example"},
        {"name": "Ben Kurz", "email": "Ben.Kurz@ACME.example"},  # case differs from Personio (B2)
        {"name": "Dora Lang", "email": "dora.lang@acme.example"},
    ],
    # An absence someone else put into HQ: the sync must never change or delete it.
    "absences": [{"email": "dora.lang@acme.example", "type": "TradeSchool", "start": day(200), "end": day(201)}],
}
FOREIGN = {"email": "dora.lang@acme.example", "Type": "TradeSchool", "Start": day(200), "End": day(201), "Note": None}


def personio_section() -> dict:
    period = lambda person, type_, start, end=None, **kw: {  # noqa: E731
        "person": f"{person}@acme.example", "type": type_, "start": start, "end": end, **kw
    }
    return {
        "client_id": "acme-personio",
        "client_secret": "acme-secret",
        "persons": [
            {"email": "anna.berg@acme.example", "first_name": "Anna", "last_name": "Berg"},
            {"email": "ben.kurz@acme.example", "first_name": "Ben", "last_name": "Kurz"},
            {"email": "carla.neu@acme.example", "first_name": "Carla", "last_name": "Neu"},
            {"email": "dora.lang@acme.example", "first_name": "Dora", "last_name": "Lang"},
        ],
        "absence_types": [
            {"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
            {"name": "Erholungsurlaub", "category": "PAID_VACATION", "unit": "DAY"},
            {"name": "Workation", "category": "OFFSITE_WORK", "unit": "DAY"},
            {"name": "Elternzeit", "category": "MATERNITY_PARENTAL_LEAVE", "unit": "DAY"},
            {"name": "Arzttermin", "category": "OTHER", "unit": "HOUR"},
            {"name": "Krankheit", "category": "SICK_LEAVE", "unit": "DAY", "approval_required": False},
            {"name": "Sabbatical", "category": "UNPAID_VACATION", "unit": "DAY"},
        ],
        "absence_periods": [
            period("anna.berg", "Urlaub", d(10), d(12), comment="vacation"),
            period("anna.berg", "Erholungsurlaub", d(20), d(21), comment="rest"),
            period("ben.kurz", "Workation", d(30), d(34), comment="workation"),
            period("ben.kurz", "Urlaub", d(40), d(41), half_day_start=True, comment="half"),
            period("anna.berg", "Elternzeit", d(50), d(50), half_day_end=True, comment="parental-half"),
            period("ben.kurz", "Arzttermin", day(5, 9), datetime.combine(d(5), time(10, 30)).isoformat(), comment="doctor"),
            period("dora.lang", "Krankheit", d(-3), None, comment="sick-open"),
            period("anna.berg", "Urlaub", d(60), d(61), status="PENDING", comment="pending"),
            period("carla.neu", "Urlaub", d(15), d(16), comment="unknown-email"),
            period("anna.berg", "Urlaub", d(-40), d(-38), comment="before-start"),
            period("anna.berg", "Urlaub", d(70), d(72), comment="to-edit"),
            period("ben.kurz", "Urlaub", d(80), d(81), comment="to-delete"),
            period("anna.berg", "Urlaub", d(90), d(90), comment="to-reject"),
            period("ben.kurz", "Sabbatical", d(100), d(101), comment="unmapped"),
        ],
    }


def seed(world) -> PersonioAdmin:
    world.write_tenant(TENANT_FILE)
    seed_hq(world.sandboxes.url("hq"), TENANT, HQ_SECTION)
    seed_personio(world.sandboxes.url("personio"), TENANT, personio_section())
    return PersonioAdmin(world.sandboxes.url("personio"), "acme-personio", "acme-secret")


def absence(email, type_, start, end, note):
    return {"email": email, "Type": type_, "Start": start, "End": end, "Note": note}


ANNA, BEN, DORA = "anna.berg@acme.example", "Ben.Kurz@ACME.example", "dora.lang@acme.example"


def expected_after_first_run() -> list[dict]:
    return sorted(
        [
            FOREIGN,
            absence(ANNA, "Vacation", day(10), day(13), "PAID_VACATION"),
            absence(ANNA, "Vacation", day(20), day(22), "PAID_VACATION"),  # many-to-one (B4)
            absence(BEN, "RemoteWork", day(30), day(35), "OFFSITE_WORK"),  # custom type via override
            absence(BEN, "Vacation", day(40, 12), day(42), "PAID_VACATION"),  # half day (B5)
            absence(ANNA, "ParentalLeave", day(50), day(51), "MATERNITY_PARENTAL_LEAVE"),  # nur ganztägig: full day
            absence(BEN, "PrivateAbsence", utc(5, 9), utc(5, 10, 30), "OTHER"),  # hour unit, UTC
            absence(DORA, "SickLeave", day(-3), end_of_next_month_exclusive(), "SICK_LEAVE"),  # open-ended
            absence(ANNA, "Vacation", day(70), day(73), "PAID_VACATION"),
            absence(BEN, "Vacation", day(80), day(82), "PAID_VACATION"),
            absence(ANNA, "Vacation", day(90), day(91), "PAID_VACATION"),
        ],
        key=lambda a: (a["email"], a["Start"], a["Type"]),
    )


# Non-default positions of the sandbox switches behind issue #10's assumptions (docs/sandbox.md):
# Personio's day end and open-ended periods in date filters, HQ's paging and string comparison.
PERSONIO_OTHER_WAY = {"personio": {"day_end_boundary": "inclusive", "open_ended_in_filters": "excluded",
                                   "breakdown_weekends": "omit", "date_filter_semantics": "literal"}}
HQ_OTHER_WAY = {"hq": {"server_page_size": 2, "next_link": False, "honour_count": False, "string_compare": "case_sensitive"}}


@pytest.mark.parametrize(("world", "switches"), [
    pytest.param("sqlite", {}, id="sqlite"),
    pytest.param("postgresql", {}, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("sqlite", PERSONIO_OTHER_WAY, id="personio-inclusive-end-open-ended-excluded"),
    pytest.param("sqlite", HQ_OTHER_WAY, id="hq-pages-of-2-no-nextlink-case-sensitive"),
], indirect=True)
def test_first_run_applies_every_rule(world, switches):
    seed(world)
    run_id = world.run()

    assert world.hq_absences() == expected_after_first_run()
    summary = world.summary(run_id)
    assert summary["created"] == 10
    assert summary["quarantined"] == 2
    assert summary["details"]["quarantined"] == {"unknown_email": 1, "unmapped_type": 1}
    assert summary["details"]["skipped"] == {"not_approved": 1}  # before-start: never even read
    reasons = {q["reason"]: q for q in world.open_quarantine()}
    assert set(reasons) == {"unknown_email", "unmapped_type"}
    assert "carla.neu@acme.example" in reasons["unknown_email"]["detail"]
    assert "Sabbatical" in reasons["unmapped_type"]["detail"]

    # Personio's day end was learnt from its breakdowns; a tenant file saying otherwise is reported.
    inclusive = switches.get("personio", {}).get("day_end_boundary") == "inclusive"
    assert summary["details"].get("reported", {}).get("day_end_disagreement") == (1 if inclusive else None)

    # Personio saw our app id on every request (X-Personio-App-ID).
    headers = world.sandboxes.admin("personio").get(f"/tenants/{TENANT}/client-headers")
    assert headers["app_ids"] == ["HQ_SYNC_TEST"]
    assert headers["last_request"]["app_id"] == "HQ_SYNC_TEST"  # the seeding sent none

    # A second run changes nothing in HQ.
    position = world.hq_log_position()
    rerun = world.run()
    assert world.hq_writes(since=position) == []
    assert world.summary(rerun)["created"] == world.summary(rerun)["deleted"] == 0
    assert world.hq_absences() == expected_after_first_run()


def test_changes_in_personio_and_hq_reach_hq_in_the_next_run(world):
    personio = seed(world)
    world.run()

    personio.patch(personio.find("pending")["id"], {"approval": {"status": "APPROVED"}})
    edited = personio.find("to-edit")
    personio.patch(edited["id"], {
        "starts_from": {"date_time": day(74), "type": None},
        "ends_at": personio.ends_at(day(76)),
    })
    personio.delete(personio.find("to-delete")["id"])
    personio.patch(personio.find("to-reject")["id"], {"approval": {"status": "REJECTED"}})
    world.sandboxes.admin("hq").post(f"/tenants/{TENANT}/users", {"FirstName": "Carla", "LastName": "Neu", "EMailWork": "carla.neu@acme.example"})

    run_id = world.run()
    state = world.hq_absences()
    expected = [a for a in expected_after_first_run() if a["Start"] not in (day(70), day(80), day(90))]
    assert FOREIGN in expected  # never ours, never touched
    expected += [
        absence(ANNA, "Vacation", day(60), day(62), "PAID_VACATION"),  # pending → approved
        absence(ANNA, "Vacation", day(74), day(76), "PAID_VACATION"),  # edit = delete + create
        absence("carla.neu@acme.example", "Vacation", day(15), day(17), "PAID_VACATION"),  # healed
    ]
    assert state == sorted(expected, key=lambda a: (a["email"], a["Start"], a["Type"]))
    summary = world.summary(run_id)
    assert (summary["created"], summary["updated"], summary["deleted"]) == (2, 1, 2)
    assert summary["details"]["deleted"] == {"deleted_in_source": 1, "not_approved": 1}
    assert [q["reason"] for q in world.open_quarantine()] == ["unmapped_type"]  # unknown e-mail healed


def test_mapping_change_is_not_retroactive_until_the_opt_in_remap(world):
    seed(world)
    world.run()
    tenant = world.tenant()
    tenant["sources"]["personio"]["absence_type_mapping"] = {
        "Remote Arbeit": "Homeoffice, Workation",
        "Urlaub": "Urlaub",
        "Sonderurlaub": "Erholungsurlaub",
    }
    world.write_tenant(tenant)

    run_id = world.run()
    rest = [a for a in world.hq_absences() if a["Start"] == day(20)]
    assert [a["Type"] for a in rest] == ["Vacation"]  # B4: existing absences stay as they are
    assert world.summary(run_id)["details"]["skipped"]["mapping_change_not_retroactive"] == 1

    remap = world.run(conf={"remap_past": True})
    rest = [a for a in world.hq_absences() if a["Start"] == day(20)]
    assert [a["Type"] for a in rest] == ["SpecialLeave"]
    assert world.summary(remap)["updated"] == 1
    assert len(world.hq_absences()) == len(expected_after_first_run())


def test_deletion_outside_the_recent_window_is_found_by_the_daily_full_reconcile(world):
    personio = seed(world)
    tenant = world.tenant()
    tenant["sources"]["personio"]["recent_window_future_days"] = 30  # to-delete (day 80) lies outside
    world.write_tenant(tenant)
    world.run()
    personio.delete(personio.find("to-delete")["id"])

    world.run()  # recent window only: the deletion is not seen yet
    assert any(a["Start"] == day(80) for a in world.hq_absences())

    import sqlalchemy as sa

    engine = sa.create_engine(world.staging_url)
    with engine.begin() as conn:  # a day passes for the full reconcile
        conn.execute(sa.text("UPDATE sync_cursors SET cursor = :c WHERE entity = 'full_reconcile'"),
                     {"c": (datetime.now(UTC) - timedelta(hours=25)).isoformat()})
    engine.dispose()
    world.run()
    assert not any(a["Start"] == day(80) for a in world.hq_absences())


def test_an_identical_absence_entered_by_hand_is_never_adopted_or_deleted(world):
    """docs/personio.md: only absences this sync created are ever changed or deleted (issue #10)."""
    personio = seed(world)
    by_hand = {"UserId": None, "Type": "Vacation", "Start": day(10), "End": day(13), "Note": "PAID_VACATION", "IsApproved": True}
    anna = next(u["Id"] for u in world.hq("Users")["value"] if u["EMailWork"] == ANNA)
    resp = requests.post(f"{world.sandboxes.url('hq')}/v1/Users({anna})/Absences", json={**by_hand, "UserId": anna},
                         headers={"Authorization": f"Bearer {world.hq_token}"}, timeout=10)
    assert resp.status_code == 201, resp.text
    hand = absence(ANNA, "Vacation", day(10), day(13), "PAID_VACATION")

    world.run()
    assert world.hq_absences().count(hand) == 2  # ours next to theirs: the first create adopts nothing

    personio.delete(personio.find("vacation")["id"])
    world.run()
    assert world.hq_absences().count(hand) == 1
    assert [a["Id"] for a in world.hq(f"Users({anna})/Absences")["value"] if a["Start"] == day(10)] == [resp.json()["Id"]]


FAULTS = [
    ("personio", {"path": "^/v2/absence-periods$", "mode": "429", "count": 3}),
    ("personio", {"path": "^/v2/persons", "mode": "503", "count": 2}),
    ("personio", {"path": "^/v2/auth/token", "mode": "500", "count": 1}),
    ("personio", {"path": "^/v2/absence-types", "mode": "drop", "count": 2}),
    ("personio", {"path": "^/v2/absence-periods$", "mode": "hang", "seconds": 5, "count": 1}),
    ("hq", {"path": "/Absences$", "method": "POST", "mode": "lose_answer", "count": 4}),
    ("hq", {"path": "/Absences$", "method": "POST", "mode": "503", "count": 2}),
    ("hq", {"path": "^/v1/Users$", "mode": "500", "count": 2}),
    ("hq", {"path": "/Absences\\(", "method": "DELETE", "mode": "lose_answer", "count": 1}),
    ("hq", {"path": "/Absences$", "method": "GET", "mode": "drop", "count": 1}),
]


@pytest.mark.parametrize("world", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_faults_end_in_the_same_state_without_duplicates(world):
    personio = seed(world)
    for vendor, rule in FAULTS:
        world.sandboxes.admin(vendor).add_fault(**rule)
    world.run()
    assert world.hq_absences() == expected_after_first_run()

    personio.delete(personio.find("to-delete")["id"])
    personio.patch(personio.find("to-edit")["id"], {"comment": "edited", "ends_at": personio.ends_at(day(74))})
    world.sandboxes.admin("hq").add_fault(path="/Absences$", method="POST", mode="lose_answer", count=1)
    world.sandboxes.admin("hq").add_fault(path="/Absences\\(", method="DELETE", mode="lose_answer", count=2)
    world.run()
    expected = [a for a in expected_after_first_run() if a["Start"] not in (day(70), day(80))]
    expected.append(absence(ANNA, "Vacation", day(70), day(74), "PAID_VACATION"))
    assert world.hq_absences() == sorted(expected, key=lambda a: (a["email"], a["Start"], a["Type"]))
    fired = {f["mode"] for vendor in ("hq", "personio") for f in world.sandboxes.admin(vendor).get("/faults")["faults"] if f["fired"]}
    assert {"429", "503", "500", "drop", "hang", "lose_answer"} <= fired


def test_a_system_problem_fails_the_run_and_a_rerun_recovers(world):
    seed(world)
    world.sandboxes.admin("personio").post("/tenants", {"tenant": TENANT, "client_id": "acme-personio", "client_secret": "rotated"})
    world.run(expect="failed")  # rejected credentials: a system problem, the run fails
    assert world.hq_absences() == [FOREIGN]
    world.sandboxes.admin("personio").post("/tenants", {"tenant": TENANT, "client_id": "acme-personio", "client_secret": "acme-secret"})
    world.run()
    assert world.hq_absences() == expected_after_first_run()


def test_backfill_from_the_sync_start_equals_one_run_and_repeating_it_changes_nothing(world):
    seed(world)
    start = datetime.combine(d(-30), time(), BERLIN)
    logical_dates = [start + timedelta(hours=3 * i) for i in range(4)]
    for logical_date in logical_dates:
        world.run(logical_date=logical_date)
    assert world.hq_absences() == expected_after_first_run()

    position = world.hq_log_position()
    for logical_date in logical_dates:
        world.run(logical_date=logical_date)
    assert world.hq_writes(since=position) == []
    assert world.hq_absences() == expected_after_first_run()


def test_a_write_hq_refuses_is_quarantined_and_retried_until_it_is_accepted(world, monkeypatch):
    seed(world)
    # A user token instead of the sync token: with the Personio sync on, HQ refuses its absence writes (B7).
    from tests.e2e.conftest import _conn_env

    monkeypatch.setenv(*_conn_env("hq_acme", {"host": f"{world.sandboxes.url('hq')}/v1", "password": "hq-acme-anna"}))
    run_id = world.run()  # a data problem per record: the run stays green
    assert world.hq_absences() == [FOREIGN]
    summary = world.summary(run_id)
    assert summary["details"]["quarantined"]["hq_rejected"] == 10
    refused = [q for q in world.open_quarantine() if q["reason"] == "hq_rejected"]
    assert len(refused) == 10 and "PersonioSyncActive" in refused[0]["detail"]

    monkeypatch.setenv(*_conn_env("hq_acme", {"host": f"{world.sandboxes.url('hq')}/v1", "password": world.hq_token}))
    world.run()
    assert world.hq_absences() == expected_after_first_run()
    assert not [q for q in world.open_quarantine() if q["reason"] == "hq_rejected"]
