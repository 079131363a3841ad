"""The drift endpoints of the HQ sandbox's admin surface: changes behind the sync's back (docs/audit.md)."""

from __future__ import annotations

import pytest

from tests.sandboxes.hq.conftest import ACME


def test_edit_and_delete_a_reporting_behind_the_syncs_back_even_when_billed(hq):
    billed = hq.sync.one("/v1/UserReportings", **{"$filter": "Note eq 'Review'"})
    assert hq.sync.put(f"/v1/Users({billed['UserId']})/Reportings({billed['Id']})",
                       {"Duration": 3600, "StartOn": billed["StartOn"]}).status_code == 400  # HQ's own lock
    edited = hq.admin.patch(f"/tenants/{ACME}/records/UserReportings/{billed['Id']}?as=anna@acme.example",
                            {"Duration": 3600, "StartOn": "2025-02-06T10:00:00+01:00"})
    assert (edited["Duration"], edited["StartOn"], edited["UpdatedBy"]) == (3600, "2025-02-06T09:00:00Z", hq.user_id("anna@acme.example"))
    assert hq.sync.one("/v1/UserReportings", **{"$filter": f"Id eq {billed['Id']}"})["Duration"] == 3600
    other = hq.sync.one("/v1/UserReportings", **{"$filter": "Note eq 'Moodboard'"})
    assert hq.admin.patch(f"/tenants/{ACME}/records/UserReportings/{other['Id']}", {"Note": "x"})["UpdatedBy"] == -1
    hq.admin.delete(f"/tenants/{ACME}/records/UserReportings/{billed['Id']}")
    assert hq.sync.get(f"/v1/UserReportings({billed['Id']})").status_code == 404


def test_edit_an_absence_recomputes_its_days_and_ignores_the_personio_lock(hq):
    hq.settings(personio_sync=True)
    anna = hq.user_id("anna@acme.example")
    [absence] = hq.sync.values(f"/v1/Users({anna})/Absences")
    assert absence["MissedDays"] == 5.0
    changed = hq.admin.patch(f"/tenants/{ACME}/records/UserAbsences/{absence['Id']}", {"End": "2025-03-06"})
    assert (changed["End"], changed["MissedDays"]) == ("2025-03-06T00:00:00", 3.0)
    with pytest.raises(AssertionError, match="400"):  # validated like a create
        hq.admin.patch(f"/tenants/{ACME}/records/UserAbsences/{absence['Id']}", {"End": "2025-03-01"})
    hq.admin.delete(f"/tenants/{ACME}/records/UserAbsences/{absence['Id']}")
    assert hq.sync.values(f"/v1/Users({anna})/Absences") == []


def test_only_reportings_and_absences_and_their_fields(hq):
    project = hq.project("Website Relaunch")
    for path, body in ((f"/tenants/{ACME}/records/Projects/{project['Id']}", {"Name": "x"}),
                       (f"/tenants/{ACME}/records/UserReportings/{hq.sync.values('/v1/UserReportings')[0]['Id']}", {"ChargeRateValue": 1})):
        with pytest.raises(AssertionError, match="400"):
            hq.admin.patch(path, body)
    with pytest.raises(AssertionError, match="404"):
        hq.admin.delete(f"/tenants/{ACME}/records/UserReportings/999999999")
