"""Audit rules without servers: absence days, windows, the cell table's arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from hq_sync.audit.absences import absence_days
from hq_sync.audit.model import AuditKind, AuditStatus, Cell, Explanation, Pair, Window
from hq_sync.audit.report import build_result
from hq_sync.config import TenantConfig
from hq_sync.pipelines.audit import BadMonth, audit_window

MARCH = Window(date(2026, 3, 1), date(2026, 3, 31))


@pytest.mark.parametrize(("type_", "start", "end", "expected"), [
    ("Vacation", "2026-03-02T00:00:00", "2026-03-07T00:00:00", {"2026-03": 5.0}),  # Mon–Fri
    ("Vacation", "2026-03-06T00:00:00", "2026-03-10T00:00:00", {"2026-03": 2.0}),  # Fri, Sat, Sun, Mon
    ("Vacation", "2026-03-02T12:00:00", "2026-03-04T00:00:00", {"2026-03": 1.5}),  # afternoon start
    ("SickLeave", "2026-03-30T00:00:00", "2026-04-03T00:00:00", {"2026-03": 2.0}),  # clipped to the window
    ("Vacation", "2026-03-07T00:00:00", "2026-03-09T00:00:00", {}),  # a weekend: no days
    ("PrivateAbsence", "2026-03-03T08:00:00Z", "2026-03-03T10:00:00Z", {"2026-03": 0.25}),  # 2 h / 8
])
def test_absence_days(type_, start, end, expected):
    assert absence_days(type_, start, end, MARCH, "Europe/Berlin") == expected


def tenant(**audit) -> TenantConfig:
    return TenantConfig.model_validate({"id": "acme", "display_name": "A", "audit": audit, "sources": {
        "awork": {"sync_start_date": "2026-02-10"}, "personio": {"sync_start_date": "2025-06-01"}}})


def test_windows():
    today = date(2026, 11, 29)
    assert audit_window(tenant(), today) == Window(date(2025, 6, 1), date(2027, 11, 30))
    assert audit_window(tenant(lookback_months=3), today).start == date(2026, 8, 1)
    assert audit_window(tenant(), today, "2026-02") == Window(date(2026, 2, 1), date(2026, 2, 28), "2026-02")
    with pytest.raises(BadMonth):
        audit_window(tenant(), today, "Feb 2026")


def test_cells_add_up_and_every_differing_record_is_listed():
    web = Cell(AuditKind.HOURS, "anna@x", "1", "Web", "2026-03")
    april = Cell(AuditKind.HOURS, "anna@x", "1", "Web", "2026-04")
    same = Pair(AuditKind.HOURS, "a", "1", source={web: 2.0}, hq={web: 2.0})
    moved = Pair(AuditKind.HOURS, "b", "2", source={web: 1.0}, hq={april: 1.0})  # HQ moved it a month on
    moved.explain(Explanation.UNEXPLAINED, "changed_in_hq", "moved")
    within = Pair(AuditKind.HOURS, "c", "3", source={web: 1.0}, hq={web: 1.0}, record_changed=True)  # same month
    within.explain(Explanation.UNEXPLAINED, "changed_in_hq", "moved within March")
    held = Pair(AuditKind.HOURS, "d", None, source={web: 4.0})
    held.explain(Explanation.QUARANTINE, "unknown_email", "held")
    result = build_result([same, moved, within, held], Window(date(2026, 3, 1), date(2026, 4, 30)))
    cells = {r["month"]: r for r in result.cells.to_dict("records")}
    assert cells["2026-03"] == {**cells["2026-03"], "source_qty": 8.0, "hq_qty": 3.0, "explained_qty": -4.0, "unexplained_qty": -1.0}
    assert cells["2026-04"]["hq_qty"] == 1.0 and cells["2026-04"]["unexplained_qty"] == 1.0
    for c in cells.values():  # source + explained + unexplained = HQ
        assert c["source_qty"] + c["explained_qty"] + c["unexplained_qty"] == pytest.approx(c["hq_qty"])
    assert (result.status, result.explained, result.unexplained) == (AuditStatus.DRIFT, 1, 2)
    assert sorted(result.differences["source_ref"]) == ["b", "b", "c", "d"]  # the moved one in both months
    assert result.totals["hours"]["by_explanation"] == {"quarantine": 1, "unexplained": 2}


def test_no_difference_is_clean():
    web = Cell(AuditKind.HOURS, "anna@x", "1", "Web", "2026-03")
    result = build_result([Pair(AuditKind.HOURS, "a", "1", source={web: 2.0}, hq={web: 2.0})], MARCH)
    assert (result.status, result.explained, result.unexplained, len(result.differences)) == (AuditStatus.CLEAN, 0, 0, 0)
