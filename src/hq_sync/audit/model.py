"""What the drift audit compares and how it explains a difference (product.md F2, docs/audit.md).

The audit pairs every source record (awork time entry, Personio absence period) with the HQ
record this sync wrote for it (through ``hq_links``), and adds the HQ records nobody pairs (written
by someone else). Each side contributes quantities to cells — hours per person, project and month;
absence days per person, HQ type and month. A pair whose two sides contribute differently is a
difference, and gets exactly one ``Explanation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class AuditKind(StrEnum):
    HOURS = "hours"  # awork time entries vs HQ reportings
    ABSENCE_DAYS = "absence_days"  # Personio absence periods vs HQ absences


class Explanation(StrEnum):
    """Why a source record and HQ differ. Everything but ``UNEXPLAINED`` is expected."""

    QUARANTINE = "quarantine"  # held back by the sync, with the reason (unknown e-mail, ...)
    BILLED_CONFLICT = "billed_conflict"  # HQ billed it; the source changed afterwards (A9)
    WRITTEN_BY_OTHERS = "written_by_others"  # in HQ, but not from this source (timeBro, a person, a timesheet import)
    AWAITING_SYNC = "awaiting_sync"  # changed in the source after the last sync run; the next run applies it
    MAPPING_CHANGE = "mapping_change"  # absence type mapping changed, absence unchanged: left as it is (B4)
    UNEXPLAINED = "unexplained"  # drift: HQ changed behind the sync's back, or the sync did not apply the source

    @property
    def explained(self) -> bool:
        return self is not Explanation.UNEXPLAINED


class AuditStatus(StrEnum):
    CLEAN = "clean"  # no difference at all
    EXPLAINED = "explained"  # differences, every one explained
    DRIFT = "drift"  # at least one unexplained difference


@dataclass(frozen=True)
class Cell:
    """Where a quantity is counted: person (e-mail), project or absence type, month."""

    kind: AuditKind
    person: str
    scope: str  # HQ project id, or HQ absence type (API enum)
    scope_label: str  # project name / German type label
    month: str  # YYYY-MM


@dataclass
class Pair:
    """One source record and the HQ record that stands for it (either may be missing)."""

    kind: AuditKind
    source_ref: str | None  # awork time entry id / Personio period id
    hq_ref: str | None  # HQ reporting / absence id
    source: dict[Cell, float] = field(default_factory=dict)  # what the source says
    hq: dict[Cell, float] = field(default_factory=dict)  # what HQ holds
    explanation: Explanation | None = None  # None: the sides agree
    reason: str | None = None  # machine code: quarantine reason, changed_in_hq, deleted_in_hq, ...
    detail: str = ""
    who: str | None = None  # who wrote / changed the HQ record, when known
    # HQ's record is not what the sync wrote (changed or deleted behind its back), even where the
    # quantities per cell happen to agree (a booking moved within its month, a weekend day).
    record_changed: bool = False
    anchor: Cell | None = None  # where to list the pair when it has no quantity in any cell

    def differs(self, tolerance: float = 1e-6) -> bool:
        cells = set(self.source) | set(self.hq)
        return self.record_changed or any(abs(self.source.get(c, 0.0) - self.hq.get(c, 0.0)) > tolerance for c in cells)

    def explain(self, explanation: Explanation, reason: str | None, detail: str, who: str | None = None) -> None:
        self.explanation, self.reason, self.detail, self.who = explanation, reason, detail, who


@dataclass(frozen=True)
class Window:
    """The audited days (inclusive), in the tenant's time zone."""

    start: date
    end: date
    month: str | None = None  # YYYY-MM when one month is audited

    def months(self) -> set[str]:
        out, y, m = set(), self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.add(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass
class SourceRead:
    """How one source was read for the audit (shown on the page and in the run's log)."""

    source: str
    mode: str  # "staging" | "source"
    why: str
    records: int = 0
    requests: int = 0
    last_synced_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "why": self.why,
            "records": self.records,
            "requests": self.requests,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
        }


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
