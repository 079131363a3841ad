"""HQ offer (Angebot) positions → awork task lists and tasks (product.md A4). Pure functions.

HQ v1 positions carry no parent link: groups are expressed by order. A ``GroupHeader`` or
``PositionGroup`` opens a group that the following priced positions belong to, until the next
group opener, a ``Subtotal`` or the end. A group becomes an awork task list named like the group;
its positions become tasks in that list; positions outside any group become tasks without a list.
Text lines, subtotals and page structure create nothing.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

GROUP_OPENERS = {"GroupHeader", "PositionGroup"}
STRUCTURE_ONLY = {"Subtotal", "Textline"}
HOURS_PER_DAY = 8
HOUR_UNITS = {"h", "std", "std.", "stunde", "stunden", "hour", "hours", "hrs"}
DAY_UNITS = {"d", "t", "tag", "tage", "pt", "personentag", "personentage", "day", "days"}
_TAG = re.compile(r"<[^>]+>")
_LINE_BREAK = re.compile(r"<br\s*/?>|</(p|div|li|h[1-6])\s*>", re.IGNORECASE)


def plain_text(value: str | None) -> str:
    """Position text without HTML markup and entities, whitespace folded (the first line if several)."""
    text = html.unescape(_TAG.sub(" ", _LINE_BREAK.sub("\n", value or "")))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return next((line for line in lines if line), "")


def planned_seconds(amount: Any, unit: str | None) -> int | None:
    """awork plannedDuration from an amount in hours or days (8 h); None for other units."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        return None
    key = (unit or "").strip().lower()
    if key in HOUR_UNITS:
        return round(value * 3600)
    if key in DAY_UNITS:
        return round(value * HOURS_PER_DAY * 3600)
    return None


@dataclass(frozen=True)
class PlannedTask:
    key: str  # stable per offer: the HQ position id
    name: str
    planned_duration: int | None
    unit: str | None


@dataclass
class PlannedList:
    key: str  # the HQ id of the group's opening position
    name: str
    tasks: list[PlannedTask] = field(default_factory=list)


@dataclass
class OfferPlan:
    lists: list[PlannedList] = field(default_factory=list)
    loose_tasks: list[PlannedTask] = field(default_factory=list)  # outside any group
    skipped: list[str] = field(default_factory=list)  # positions that create nothing, and why


def plan_offer(positions: list[dict[str, Any]]) -> OfferPlan:
    """Task lists and tasks for an offer's positions (in HQ's ``Order``)."""
    plan = OfferPlan()
    current: PlannedList | None = None
    for position in sorted(positions, key=lambda p: (p.get("Order") or 0, p.get("Id") or 0)):
        kind = position.get("Type") or "Freetext"
        name = plain_text(position.get("Text"))
        if kind in GROUP_OPENERS:
            current = PlannedList(key=str(position["Id"]), name=name or f"Gruppe {position['Id']}")
            plan.lists.append(current)
            continue
        if kind in STRUCTURE_ONLY:
            if kind == "Subtotal":
                current = None
            continue
        if not name:
            plan.skipped.append(f"position {position.get('Id')}: no text to name a task")
            continue
        task = PlannedTask(
            key=str(position["Id"]),
            name=name,
            planned_duration=planned_seconds(position.get("Amount"), position.get("Unit")),
            unit=position.get("Unit"),
        )
        (current.tasks if current is not None else plan.loose_tasks).append(task)
    return plan
