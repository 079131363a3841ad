"""What each quarantine reason means for the record: held back, or written with a warning.

The ``quarantine`` table holds two kinds of items under one reason code each:

- **held back** (``QuarantineOutcome.HELD_BACK``): the record is *not* in HQ (or its change is
  not); it is retried every run and written once its cause is fixed;
- **written with a warning** (``QuarantineOutcome.WRITTEN_WITH_WARNING``): the record *was*
  written to HQ, but not quite as the source says (a phase name without its bracket, a task
  under one of several lists, the default task type); the item is a note for a person.

This module is the one place that says which is which (the pipelines, the run report and the
status page read it), and what fixes a held-back cause: ``REASONS`` maps each code to its
``ReasonInfo``. A code missing here counts as held back (the safe side: it is shown as not in HQ).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class QuarantineOutcome(StrEnum):
    HELD_BACK = "held_back"  # not in HQ: released once the cause is fixed
    WRITTEN_WITH_WARNING = "written_with_warning"  # in HQ; the item is a note


@dataclass(frozen=True)
class ReasonInfo:
    """One quarantine reason: its outcome, the context keys naming its cause (the thing that fixes
    many items at once, e.g. the e-mail of a missing HQ user) and the fix, as a person does it."""

    outcome: QuarantineOutcome
    cause_keys: tuple[str, ...] = ()  # first context key present names the cause; none: per reason
    fix: str = "see each record's sentence"  # "{causes}": the causes' values, comma-separated
    noun: str = "the causes"  # what the cause values are, for the sentence ("HQ users")


_HELD = QuarantineOutcome.HELD_BACK
_WARN = QuarantineOutcome.WRITTEN_WITH_WARNING

REASONS: dict[str, ReasonInfo] = {
    # awork → HQ (docs/awork.md)
    "unknown_email": ReasonInfo(
        _HELD, ("email", "awork_user_id", "person_id"), "create the HQ users {causes}", "HQ users"
    ),
    "duration_over_24h": ReasonInfo(_HELD, ("email",), "split the entries over 24 h of {causes} in awork", "people"),
    "invalid_awork_link": ReasonInfo(_HELD, (), "correct the HQ projects' awork links"),
    "awork_project_not_found": ReasonInfo(_HELD, (), "link the HQ projects to existing awork projects"),
    "duplicate_awork_link": ReasonInfo(_HELD, (), "link each awork project from one HQ project only"),
    "malformed_bracket": ReasonInfo(_WARN, ("list_name",), "rename the awork lists {causes} ('Name [5,4d]')", "lists"),
    "task_in_several_lists": ReasonInfo(_WARN, (), "keep each awork task in one list"),
    "type_of_work_unmatched": ReasonInfo(
        _WARN, ("type_of_work",), "create the HQ task types {causes}", "types of work"
    ),
    # Personio → HQ (docs/personio.md)
    "unknown_person": ReasonInfo(_HELD, ("email", "person_id", "person"), "create the HQ users {causes}", "people"),
    "unmapped_type": ReasonInfo(
        _HELD, ("absence_type",), "map the Personio absence types {causes} (absence_type_mapping)", "absence types"
    ),
    "unknown_absence_type": ReasonInfo(
        _HELD, ("absence_type",), "map the Personio absence types {causes} (absence_type_mapping)", "absence types"
    ),
    "hour_unit_needs_hour_type": ReasonInfo(
        _HELD,
        ("absence_type",),
        "use day units for {causes} in Personio, or map them to an hourly HQ type",
        "absence types",
    ),
    "invalid_period": ReasonInfo(_HELD, (), "correct the absence periods in Personio"),
    # HQ writes (both sources)
    "hq_rejected": ReasonInfo(_HELD, (), "read HQ's answer in each record and correct the source"),
    "billed_conflict": ReasonInfo(
        _HELD, (), "change the billed HQ reportings by hand, or undo the change in the source"
    ),
    # HQ → awork (docs/hq-to-awork.md)
    "malformed_link": ReasonInfo(_HELD, (), "correct the HQ projects' awork links"),
    "dead_link": ReasonInfo(_HELD, (), "link the HQ projects to existing awork projects"),
    # timesheets (docs/timesheets.md)
    "missing_person": ReasonInfo(_HELD, ("file",), "fill in the person in the files {causes}", "files"),
    "person_ambiguous": ReasonInfo(_HELD, ("person", "email"), "name {causes} unambiguously (e-mail)", "people"),
    "project_unmatched": ReasonInfo(
        _HELD, ("project", "project_number"), "create or rename the HQ projects {causes}", "projects"
    ),
    "project_ambiguous": ReasonInfo(
        _HELD, ("project", "project_number"), "give the projects {causes} a number in the files", "projects"
    ),
    "task_unmatched": ReasonInfo(_HELD, ("task",), "create the HQ tasks {causes}", "tasks"),
    "task_ambiguous": ReasonInfo(_HELD, ("task",), "name the tasks {causes} as 'Phase/Task'", "tasks"),
    "default_task_missing": ReasonInfo(
        _HELD, ("default_task",), "create the default task {causes} in the projects", "tasks"
    ),
}

_UNKNOWN = ReasonInfo(_HELD)


def reason_info(reason: str) -> ReasonInfo:
    """The catalogue entry of a reason (unknown codes: held back, grouped per reason)."""
    return REASONS.get(reason, _UNKNOWN)


def outcome_of(reason: str) -> QuarantineOutcome:
    return reason_info(reason).outcome


def reasons_with(outcome: QuarantineOutcome) -> tuple[str, ...]:
    """The known reason codes with this outcome (e.g. the warnings a run reports, not counts)."""
    return tuple(code for code, info in REASONS.items() if info.outcome is outcome)


WARNING_REASONS: tuple[str, ...] = reasons_with(_WARN)
