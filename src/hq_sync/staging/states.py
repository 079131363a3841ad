"""The states staging records, as enums (issue 13: no bare string literals for states).

Each enum is a ``StrEnum``: its members compare equal to the strings stored in the database, so a
row read back (``row.state == LinkState.SYNCED``) and a value written (``state=LinkState.PENDING``)
need no conversion. The columns they describe are in ``staging/schema.py``.
"""

from __future__ import annotations

from enum import StrEnum


class LinkState(StrEnum):
    """``hq_links.state``: where a source record's HQ (or awork) counterpart stands."""

    PENDING = "pending"  # recorded before the write is sent; settled by the next attempt
    SYNCED = "synced"  # the counterpart exists and holds ``written``
    DELETED = "deleted"  # the counterpart was deleted (or never existed after a lost create)


class Plan(StrEnum):
    """``planned_hq_state.plan``: what transform decided a source record should be in HQ."""

    WANTED = "wanted"  # write ``body``
    NOT_WANTED = "not_wanted"  # not in HQ (delete a counterpart if there is one); ``reason`` says why
    QUARANTINED = "quarantined"  # held back; ``reason`` is a quarantine code (staging/reasons.py)


class Outcome(StrEnum):
    """What a run did with a record: the counters of ``run_summaries`` (and of the run report)."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SKIPPED = "skipped"
    QUARANTINED = "quarantined"
    CONFLICTS = "conflicts"


# The counters of a run, in report order (run_summaries' columns, the run report, the status page).
COUNT_FIELDS: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)
