"""Edge cases of the pure transforms that only the e2e suites reached (issue #13): unreadable or
backwards Personio periods, an impossible half day, an awork entry without e-mail or with an
unknown time zone, a list membership without id."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hq_sync.transform.absences import Quarantined, Wanted
from hq_sync.transform.phases import choose_list
from hq_sync.transform import reportings
from hq_sync.transform.reportings import entry_start

from .test_absences import period, plan
from .test_reportings import _plan as plan_entry


@pytest.mark.parametrize(
    ("start", "end"),
    [("not a date", "2026-03-05T00:00:00"), ("2026-03-02T00:00:00", "2026-13-40T00:00:00"), ("", None)],
)
def test_an_unreadable_period_is_quarantined_and_says_so(start, end) -> None:
    result = plan(period(start, end))
    assert isinstance(result, Quarantined) and result.reason == "invalid_period"
    assert "p1 has an unreadable start or end" in result.detail


def test_a_period_without_start_is_quarantined() -> None:
    p = period("2026-03-02T00:00:00", "2026-03-05T00:00:00")
    del p.payload["starts_from"]
    result = plan(p)
    assert isinstance(result, Quarantined) and result.reason == "invalid_period"


@pytest.mark.parametrize(
    ("type_id", "start", "end"),
    [
        ("vac", "2026-03-05T00:00:00", "2026-03-02T00:00:00"),  # days
        ("doc", "2026-03-02T10:00:00", "2026-03-02T09:00:00"),  # hours
        ("doc", "2026-03-02T10:00:00", "2026-03-02T10:00:00"),  # no length at all
    ],
)
def test_a_period_that_ends_before_it_starts_is_quarantined(type_id, start, end) -> None:
    result = plan(period(start, end, type_id=type_id))
    assert isinstance(result, Quarantined) and result.reason == "invalid_period"
    assert result.detail == "absence period p1 ends before it starts"


def test_an_afternoon_start_and_a_morning_end_on_one_day_is_quarantined() -> None:
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", start_type="SECOND_HALF", end_type="FIRST_HALF"))
    assert isinstance(result, Quarantined) and result.reason == "invalid_period"
    assert "starts in the afternoon and ends in the morning of the same day" in result.detail


def test_an_afternoon_start_on_one_day_is_half_a_day() -> None:
    result = plan(period("2026-03-02T00:00:00", "2026-03-03T00:00:00", start_type="SECOND_HALF", end_type="SECOND_HALF"))
    assert isinstance(result, Wanted)
    assert (result.body["Start"], result.body["End"]) == ("2026-03-02T12:00:00", "2026-03-03T00:00:00")


def test_a_time_entry_whose_user_has_no_email_is_quarantined_with_its_hours() -> None:
    result = plan_entry(email=None)
    assert isinstance(result, reportings.Quarantined) and result.reason == "unknown_email"
    assert result.context["hours"] == 1.5 and result.context["date"] == "2026-03-02"
    assert "its awork user has no e-mail" in result.detail


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_a_date_only_entry_in_an_unknown_zone_uses_the_tenants(zone) -> None:
    payload = {"startDateLocal": "2026-03-02T00:00:00", "timezone": zone}
    assert entry_start(payload, "Europe/Berlin") == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert entry_start({"startDateUtc": "2026-07-02T00:00:00Z"}, "Europe/Berlin") == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


def test_a_list_membership_without_id_is_ignored() -> None:
    choice = choose_list([{"name": "Ohne Id", "order": 0}, {"id": "L1", "name": "Design", "order": 3}])
    assert choice.list_id == "L1" and choice.candidates == ("L1",)
    assert choose_list([{"name": "Ohne Id"}]).list_id is None


def test_sync_start_is_read_in_the_tenants_zone() -> None:
    # 23:30 UTC on 31 March is 1 April in Berlin: inside a sync that starts on 1 April.
    late = plan_entry(sync_start=date(2026, 4, 1), payload={"startDateUtc": "2026-03-31T00:00:00Z", "startTimeUtc": "23:30:00"})
    assert isinstance(late, reportings.Wanted) and late.body["StartDate"] == "2026-03-31T23:30:00Z"
