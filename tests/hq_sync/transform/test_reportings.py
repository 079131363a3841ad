"""awork links, entry start times and the plan of one time entry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hq_sync.transform.reportings import InvalidLink, NotWanted, Quarantined, Wanted, entry_start, parse_awork_link, plan_reporting

PID = "0b7e6c1a-2f0e-4c52-9a51-3a1f6f1e9d10"


@pytest.mark.parametrize("value", [
    f"https://acme.awork.com/projects/{PID}", f"https://acme.awork.com/projects/{PID}/details?tab=1#x",
    f"acme.awork.com/projects/{PID.upper()}", PID, f"  {PID.upper()}  ", f"http://awork.com/projects/{PID}",
])
def test_link_formats(value):
    assert parse_awork_link(value) == PID


@pytest.mark.parametrize("value", ["", None, "https://example.com/projects/" + PID, "https://acme.awork.com/tasks/" + PID,
                                   "https://acme.awork.com/projects/not-a-guid", "WEB-1"])
def test_invalid_links(value):
    with pytest.raises(InvalidLink):
        parse_awork_link(value)


def test_entry_start_timed_and_date_only():
    timed = {"startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "08:30:00"}
    assert entry_start(timed, "Europe/Berlin") == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    date_only = {"startDateUtc": "2026-03-01T00:00:00Z", "startDateLocal": "2026-03-02T00:00:00", "timezone": "Europe/Berlin"}
    assert entry_start(date_only, "UTC") == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


def _plan(**overrides):
    payload = {"startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "08:00:00", "duration": 5400, "note": "x", "projectId": PID}
    payload.update(overrides.pop("payload", {}))
    kwargs = dict(entry_id="e1", payload=payload, version="v", email="Anna@Acme.example", hq_users={"anna@acme.example": "1001"},
                  hq_project_id="30001", task_sync_id="t1", sync_start=date(2026, 1, 1), timezone="Europe/Berlin")
    kwargs.update(overrides)
    return plan_reporting(**kwargs)


def test_plan_wanted_matches_email_case_insensitively():
    plan = _plan()
    assert isinstance(plan, Wanted)
    assert plan.body == {"AworkProjectId": PID, "UserId": 1001, "ProjectId": 30001, "TaskSyncId": "t1",
                         "StartDate": "2026-03-02T08:00:00Z", "Duration": 5400, "Description": "x"}


def test_plan_unknown_email_keeps_the_hours():
    plan = _plan(hq_users={})
    assert isinstance(plan, Quarantined) and plan.reason == "unknown_email" and plan.context["hours"] == 1.5


def test_plan_before_start_and_running_timer():
    assert _plan(sync_start=date(2026, 4, 1)) == NotWanted("before_sync_start")
    assert _plan(payload={"duration": 0}) == NotWanted("timer_running")
    assert _plan(payload={"duration": 25 * 3600}).reason == "duration_over_24h"
