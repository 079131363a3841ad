"""A4: offer positions → awork task lists and tasks (pure rules)."""

import pytest

from hq_sync.transform.offers import plain_text, plan_offer, planned_seconds


def pos(id_, text=None, type_="Freetext", amount=1, unit="h", order=None):
    return {"Id": id_, "Type": type_, "Text": text, "Amount": amount, "Unit": unit, "Order": order or id_}


def test_groups_become_lists_and_loose_positions_tasks_without_list():
    plan = plan_offer([
        pos(1, "Intro", "Textline"),
        pos(2, "Konzeption", "GroupHeader"),
        pos(3, "Workshop", amount=2, unit="Tage"),
        pos(4, None, "Subtotal"),
        pos(5, "Vorab-Analyse", amount=3),  # after a subtotal: outside any group
        pos(6, "Design", "PositionGroup"),
        pos(7, "Screens", amount=1.5, unit="d"),
        pos(8, "Pauschale", unit="Pauschal"),  # the group runs to the end
    ])
    assert [(l.name, [t.name for t in l.tasks]) for l in plan.lists] == [
        ("Konzeption", ["Workshop"]), ("Design", ["Screens", "Pauschale"]),
    ]
    assert [t.name for t in plan.loose_tasks] == ["Vorab-Analyse"]
    assert [t.key for t in plan.lists[0].tasks] == ["3"]  # keyed by HQ position id


def test_order_not_list_position_decides():
    plan = plan_offer([pos(9, "B-Task", order=3), pos(8, "Gruppe", "GroupHeader", order=2), pos(7, "A-Task", order=1)])
    assert [t.name for t in plan.loose_tasks] == ["A-Task"]
    assert [t.name for t in plan.lists[0].tasks] == ["B-Task"]


@pytest.mark.parametrize(
    ("amount", "unit", "seconds"),
    [(2, "h", 7200), (1.5, "Std.", 5400), (2, "Tage", 57600), (0.5, "PT", 14400), ("3", "d", 86400),
     (1, "Pauschal", None), (1, None, None), ("viel", "h", None)],
)
def test_planned_duration_from_hours_or_days_of_eight_hours(amount, unit, seconds):
    assert planned_seconds(amount, unit) == seconds


def test_names_lose_markup_and_entities():
    assert plain_text("<p>Workshop <b>vor&nbsp;Ort</b></p><p>zweite Zeile</p>") == "Workshop vor Ort"
    assert plain_text("Layout &amp; Satz<br>Details") == "Layout & Satz"
    assert plan_offer([pos(1, "<p></p>")]).skipped == ["position 1: no text to name a task"]
