"""Phases from awork task lists (product.md A5/A6): names, planned values, the list of a task.

Pure functions over plain data, no I/O; ``docs/awork.md`` states the rules.

- **Bracket grammar**: a list name may end in ``[<number><unit>]``: the number with a German
  decimal comma (``5,4``; a point with one or two decimals, ``2.5``, is read the same), the unit
  ``d`` (person-days of 8 h) or ``h`` (hours), case-insensitive, blanks allowed inside the
  brackets. The bracket sets the phase's planned effort (hours) and is dropped from the phase name.
  A trailing bracket that does not follow the grammar (``[viel]``, ``[5x]``, ``[1.000h]``, an
  unclosed ``[3d``) stays in the name and is reported.
- **A task in several lists**: the list with the lowest awork ``order`` wins, then the name
  (case-folded), then the id; a list without order sorts last. The choice is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HOURS_PER_DAY = 8.0
_TRAILING_BRACKET = re.compile(r"\s*\[([^\[\]]*)\]\s*$")
_UNCLOSED = re.compile(r"\[[^\]]*$")
_VALUE = re.compile(r"^\s*(\d+)(?:[,](\d+)|[.](\d{1,2}))?\s*([dDhH])\s*$")


@dataclass(frozen=True)
class PhaseName:
    name: str  # the phase name in HQ (bracket removed when it was valid)
    planned_hours: float | None  # from the bracket, None without a valid one
    problem: str | None = None  # a sentence when a bracket was malformed


def parse_list_name(raw: str) -> PhaseName:
    """``"Konzeption [5,4d]"`` → ``PhaseName("Konzeption", 43.2)``; see the module docstring."""
    text = " ".join(str(raw).split())  # trim, collapse blanks
    match = _TRAILING_BRACKET.search(text)
    if match is None:
        if _UNCLOSED.search(text):
            return PhaseName(text, None, f"the list name {text!r} has an unclosed '[': no planned value was read")
        return PhaseName(text, None)
    value = _VALUE.match(match.group(1))
    if value is None:
        return PhaseName(
            text,
            None,
            f"the bracket [{match.group(1)}] in list name {text!r} is not a planned value like [5,4d] or "
            "[2,5h]; it stays in the phase name",
        )
    whole, comma, point, unit = value.groups()
    number = float(f"{whole}.{comma or point or 0}")
    hours = number * HOURS_PER_DAY if unit.lower() == "d" else number
    name = text[: match.start()].strip()
    if not name:
        return PhaseName(text, None, f"the list name {text!r} is only a bracket; it is used as the phase name")
    return PhaseName(name, round(hours, 4))


@dataclass(frozen=True)
class ListChoice:
    list_id: str | None  # None: the task is in no list
    candidates: tuple[str, ...]  # every list the task is in, in the order of the rule

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def _order_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    order = item.get("order")
    return (
        order is None,
        float(order) if order is not None else 0.0,
        str(item.get("name") or "").casefold(),
        str(item.get("id")),
    )


def choose_list(
    memberships: Sequence[Mapping[str, Any]], lists: Mapping[str, Mapping[str, Any]] | None = None
) -> ListChoice:
    """The list a task's phase is named after: lowest ``order``, then name, then id.

    ``memberships`` are the task's ``lists`` (``{id, name, order}``); ``lists`` (by id), when
    given, supplies the current name and order of each list (staged task lists win over the
    copies embedded in the task). Archived lists are ignored unless they are all there is.
    """
    candidates: list[dict[str, Any]] = []
    for membership in memberships:
        list_id = str(membership.get("id") or "")
        if not list_id:
            continue
        merged = {**dict(membership), **dict((lists or {}).get(list_id) or {})}
        merged["id"] = list_id
        candidates.append(merged)
    active = [c for c in candidates if not c.get("isArchived")] or candidates
    ranked = sorted(active, key=_order_key)
    if not ranked:
        return ListChoice(None, ())
    return ListChoice(str(ranked[0]["id"]), tuple(str(c["id"]) for c in ranked))
