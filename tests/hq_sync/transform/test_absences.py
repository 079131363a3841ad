"""Personio period → HQ absence rules (B2, B4, B5, B6), as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hq_sync.mappings import build_mapping
from hq_sync.transform.absences import AbsenceRules, NotWanted, Quarantined, StagedPeriod, Wanted, plan_absence

PERSONS = {"1": "Anna.Berg@Agentur.de", "2": "nobody@agentur.de", "3": None}
TYPES = {
    "vac": {"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
    "home": {"name": "Mobiles Arbeiten", "category": "OTHER", "unit": "DAY"},
    "parent": {"name": "Elternzeit", "category": "PARENTAL_LEAVE", "unit": "DAY"},
    "doc": {"name": "Arzttermin", "category": "OTHER", "unit": "HOUR"},
    "doc_day_mapped": {"name": "Urlaub stundenweise", "category": "OTHER", "unit": "HOUR"},
    "odd": {"name": "Sabbatical", "category": "UNPAID", "unit": "DAY"},
    "trip": {"name": "Dienstreise", "category": "OTHER", "unit": "DAY"},
}
HQ_USERS = {"anna.berg@agentur.de": "17"}
RULES = AbsenceRules(mapping=build_mapping({"Urlaub": "Urlaub, Urlaub stundenweise"}), sync_start=date(2026, 1, 1))
TODAY = date(2026, 11, 27)
UPDATED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def period(start, end, *, type_id="vac", person="1", status="APPROVED", start_type=None, end_type=None, tz="Europe/Berlin"):
    return StagedPeriod(
        id="p1",
        updated_at=UPDATED,
        payload={
            "id": "p1",
            "person": {"id": person},
            "absence_type": {"id": type_id},
            "starts_from": {"date_time": start, "type": start_type},
            "ends_at": None if end is None else {"date_time": end, "type": end_type},
            "timezone_id": tz,
            "approval": {"status": status},
        },
    )


def plan(p, rules=RULES):
    return plan_absence(p, persons=PERSONS, types=TYPES, hq_users=HQ_USERS, rules=rules, today=TODAY)


def test_full_days_with_exclusive_end_and_category_as_description():
    result = plan(period("2026-03-02T00:00:00", "2026-03-05T00:00:00"))
    assert isinstance(result, Wanted)
    assert result.hq_user_id == "17"  # e-mail matched case-insensitively (B2)
    assert result.body == {
        "Type": "Vacation", "Start": "2026-03-02T00:00:00", "End": "2026-03-05T00:00:00",
        "Note": "PAID_VACATION", "IsApproved": True,
    }


def test_inclusive_end_setting_reads_the_last_day():
    rules = AbsenceRules(mapping=RULES.mapping, sync_start=RULES.sync_start, day_end="inclusive")
    result = plan(period("2026-03-02T00:00:00", "2026-03-04T00:00:00"), rules)
    assert result.body["End"] == "2026-03-05T00:00:00"


def test_half_days_use_noon_markers():
    afternoon_start = plan(period("2026-03-02T00:00:00", "2026-03-04T00:00:00", start_type="SECOND_HALF"))
    assert (afternoon_start.body["Start"], afternoon_start.body["End"]) == ("2026-03-02T12:00:00", "2026-03-04T00:00:00")
    morning_only = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", start_type="FIRST_HALF", end_type="FIRST_HALF"))
    assert (morning_only.body["Start"], morning_only.body["End"]) == ("2026-03-02T00:00:00", "2026-03-02T12:00:00")


def test_nur_ganztaegig_type_is_always_written_as_full_days():
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", type_id="parent", end_type="FIRST_HALF"))
    assert result.body["Type"] == "ParentalLeave"
    assert (result.body["Start"], result.body["End"]) == ("2026-03-02T00:00:00", "2026-03-03T00:00:00")
    assert "nur ganztägig" in result.notes[0]


def test_custom_type_via_tenant_override_and_many_to_one():
    assert plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", type_id="home")).body["Type"] == "RemoteWork"


def test_hour_unit_type_to_hour_based_hq_type_in_utc():
    result = plan(period("2026-03-02T09:00:00", "2026-03-02T11:30:00", type_id="doc"))
    assert result.body["Type"] == "PrivateAbsence"
    assert (result.body["Start"], result.body["End"]) == ("2026-03-02T08:00:00Z", "2026-03-02T10:30:00Z")


def test_hour_unit_type_mapped_to_a_day_type_is_quarantined():
    result = plan(period("2026-03-02T09:00:00", "2026-03-02T11:30:00", type_id="doc_day_mapped"))
    assert isinstance(result, Quarantined) and result.reason == "hour_unit_needs_hour_type"


def test_open_ended_absence_runs_to_the_end_of_next_month_and_says_so_in_its_version():
    result = plan(period("2026-11-02T00:00:00", None))
    assert result.body["End"] == "2027-01-01T00:00:00"
    assert result.version.endswith("|open-ended-until:2026-12-31")


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", "CANCELLED", "DELETION_PENDING"])
def test_only_approved_absences_are_wanted(status):
    assert plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", status=status)) == NotWanted("not_approved")


def test_absences_before_the_sync_start_date_are_never_touched():
    assert plan(period("2025-12-30T00:00:00", "2026-01-03T00:00:00")) == NotWanted("before_sync_start")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"person": "2"}, "unknown_email"), ({"person": "3"}, "unknown_person"), ({"type_id": "odd"}, "unmapped_type"),
     ({"type_id": "nope"}, "unknown_absence_type")],
)
def test_what_cannot_be_decided_is_quarantined_with_a_reason(kwargs, reason):
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", **kwargs))
    assert isinstance(result, Quarantined) and result.reason == reason and result.detail


def test_day_unit_type_mapped_to_an_hour_based_hq_type_uses_local_day_bounds_in_utc():
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", type_id="trip"))
    assert result.body["Type"] == "CompanyAbsence"
    assert (result.body["Start"], result.body["End"]) == ("2026-03-01T23:00:00Z", "2026-03-02T23:00:00Z")


@pytest.mark.parametrize("type_id", ["nope", ""])
def test_an_unknown_type_names_the_type_the_period_and_the_person(type_id):
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", type_id=type_id))
    assert isinstance(result, Quarantined) and result.reason == "unknown_absence_type"
    assert "p1" in result.detail and "Anna.Berg@Agentur.de" in result.detail and "2026-03-02" in result.detail
    assert ("'nope'" in result.detail) if type_id else ("no absence type" in result.detail)
    assert "  " not in result.detail


def test_the_day_end_reading_is_part_of_the_version_so_a_correction_rewrites_the_absence():
    exclusive = plan(period("2026-03-02T00:00:00", "2026-03-04T00:00:00"))
    inclusive = plan(period("2026-03-02T00:00:00", "2026-03-04T00:00:00"),
                     AbsenceRules(mapping=RULES.mapping, sync_start=RULES.sync_start, day_end="inclusive"))
    assert exclusive.body["End"] != inclusive.body["End"] and exclusive.version != inclusive.version
