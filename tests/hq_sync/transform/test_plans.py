"""One home for decisions (hq_sync.transform.plans), the time entry plan and the HQ project links."""

from __future__ import annotations

from datetime import date

from hq_sync.staging.states import Plan
from hq_sync.transform import absences, reportings
from hq_sync.transform.plans import NotWanted, Quarantined, Wanted, hq_users_by_email, plan_state, plan_values
from hq_sync.transform.reportings import StagedEntry, plan_project_links, plan_time_entry
from hq_sync.transform.source_rows import awork_entry_row, personio_period_row

PID = "0b7e6c1a-2f0e-4c52-9a51-3a1f6f1e9d10"
OTHER = "1c8f7d2b-3f1f-4d63-8b62-4b2f7f2f0e21"


def test_absences_and_reportings_share_one_decision_type():
    assert absences.Wanted is reportings.Wanted is Wanted
    assert absences.Quarantined is reportings.Quarantined is Quarantined


def test_plan_values_are_the_plan_columns():
    assert plan_state(Wanted("7", {"a": 1}, "v")) is Plan.WANTED
    assert plan_values(Wanted("7", {"a": 1}, "v")) == {
        "plan": "wanted", "reason": None, "hq_parent_id": "7", "body": {"a": 1}, "version": "v",
    }
    assert plan_values(NotWanted("not_approved"))["plan"] == Plan.NOT_WANTED
    held = plan_values(Quarantined("unknown_email", "who?"))
    assert held == {"plan": "quarantined", "reason": "unknown_email", "hq_parent_id": None, "body": None, "version": None}


def test_hq_users_by_email_casefolds_and_skips_users_without_one():
    users = [{"Id": 1, "EMailWork": " Anna@Acme.example "}, {"Id": 2, "EMailWork": None}, {"Id": 3}]
    assert hq_users_by_email(users) == {"anna@acme.example": "1"}


def _entry(**overrides) -> StagedEntry:
    payload = {"startDateUtc": "2026-03-02T00:00:00Z", "startTimeUtc": "08:00:00", "duration": 3600,
               "projectId": PID, "updatedOn": "2026-03-02T09:00:00Z"}
    values = dict(id="e-1", payload=payload, project_id=PID, task_id="t-1", user_id="u-1", deleted=False,
                  booked_from=None)
    values.update(overrides)
    return StagedEntry(**values)


def _plan_entry(entry: StagedEntry):
    return plan_time_entry(
        entry, linked={PID: 30001}, task_sync_id=lambda task, project: f"{project}/{task}",
        emails={"u-1": "anna@acme.example"}, hq_users={"anna@acme.example": "1001"},
        sync_start=date(2026, 1, 1), timezone="Europe/Berlin",
    )


def test_an_entry_of_a_linked_project_is_wanted_on_its_task():
    plan = _plan_entry(_entry())
    assert isinstance(plan, Wanted)
    assert plan.body["ProjectId"] == 30001 and plan.body["TaskSyncId"] == f"{PID}/t-1"
    assert plan.version == "2026-03-02T09:00:00Z"


def test_a_deleted_or_unlinked_entry_is_not_wanted_with_the_reason():
    assert _plan_entry(_entry(deleted=True)) == NotWanted("deleted_in_source")
    assert _plan_entry(_entry(project_id=OTHER, booked_from=OTHER)) == NotWanted("project_unlinked")
    assert _plan_entry(_entry(project_id=OTHER, booked_from=PID)) == NotWanted("moved_out_of_linked_projects")
    assert _plan_entry(_entry(project_id=None)) == NotWanted("project_unlinked")


def _project(hq_id: int, value: str | None, name: str = "Web") -> dict:
    return {"Id": hq_id, "Number": f"P-{hq_id}", "Name": name, "CustomFields": [{"Name": "AWORK LINK ", "Value": value}]}


def test_project_links_by_hq_id_the_first_link_wins_and_invalid_ones_are_problems():
    links = plan_project_links(
        [_project(3, PID), _project(2, f"https://acme.awork.com/projects/{PID}"), _project(4, "kaputt"),
         _project(5, OTHER.upper())],
        "awork Link",
    )
    assert links.wanted == {PID: 2, OTHER: 5}
    assert set(links.problems) == {("3", "duplicate_awork_link"), ("4", "invalid_awork_link")}
    detail, context = links.problems[("3", "duplicate_awork_link")]
    assert "already linked to HQ project 2" in detail and context["linked_to"] == 2


def test_staging_rows_keep_the_payload_and_type_the_columns():
    row = awork_entry_row({"id": "e-1", "updatedOn": "2026-03-02T09:00:00Z", "startDateLocal": "2026-03-02T00:00:00",
                           "duration": 60, "userId": "u-1", "projectId": PID, "isBilled": 1})
    assert row["start_date"] == date(2026, 3, 2) and row["duration_s"] == 60 and row["is_billed"] is True
    assert row["source_updated_at"].isoformat() == "2026-03-02T09:00:00+00:00"
    period = personio_period_row({"id": 7, "person": {"id": 3}, "starts_from": {"date_time": "2026-03-02T00:00:00.000",
                                  "type": "SECOND_HALF"}, "ends_at": None, "approval": {"status": "approved"}})
    assert period["source_id"] == "7" and period["person_id"] == "3" and period["starts_half"] == "SECOND_HALF"
    assert period["starts_at"] == "2026-03-02T00:00:00" and period["ends_at"] is None
    assert period["approval_status"] == "APPROVED"
