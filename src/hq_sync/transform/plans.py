"""What transform decides for one source record: the one home of ``Wanted``, ``NotWanted`` and
``Quarantined`` (issue 13), for every planner (``absences``, ``reportings``, ``structure``).

Each record yields exactly one ``Decision``: ``Wanted`` (an HQ body for one HQ user or parent),
``NotWanted`` (the record must have no HQ counterpart; the reason says why) or ``Quarantined`` (it
cannot be decided without a guess; a reason code and a sentence say why). ``plan_values`` turns a
decision into the columns of ``planned_hq_state`` (its state is ``hq_sync.staging.states.Plan``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hq_sync.staging.states import Plan


@dataclass(frozen=True)
class Wanted:
    hq_user_id: str  # the HQ user (absences, reportings) the body is written for
    body: dict[str, Any]  # the HQ body to write
    version: str | None  # what the body was derived from: a change here (not in a mapping) rewrites it
    notes: tuple[str, ...] = ()  # e.g. "half day dropped: Elternzeit is nur ganztägig"


@dataclass(frozen=True)
class NotWanted:
    reason: str  # e.g. not_approved | before_sync_start | deleted_in_source


@dataclass(frozen=True)
class Quarantined:
    reason: str  # machine code (hq_sync.staging.reasons)
    detail: str  # one sentence a person understands
    context: dict[str, Any] = field(default_factory=dict)


Decision = Wanted | NotWanted | Quarantined


def plan_state(decision: Decision) -> Plan:
    """The ``planned_hq_state.plan`` of a decision."""
    if isinstance(decision, Wanted):
        return Plan.WANTED
    if isinstance(decision, NotWanted):
        return Plan.NOT_WANTED
    return Plan.QUARANTINED


def plan_values(decision: Decision) -> dict[str, Any]:
    """The plan columns of one decision: plan, reason, hq_parent_id, body, version."""
    if isinstance(decision, Wanted):
        return {
            "plan": Plan.WANTED,
            "reason": None,
            "hq_parent_id": decision.hq_user_id,
            "body": decision.body,
            "version": decision.version,
        }
    return {
        "plan": plan_state(decision),
        "reason": decision.reason,
        "hq_parent_id": None,
        "body": None,
        "version": None,
    }


def hq_users_by_email(users: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Case-folded work e-mail → HQ user id, of the HQ users that have one."""
    return {str(u["EMailWork"]).strip().casefold(): str(u["Id"]) for u in users if u.get("EMailWork")}
