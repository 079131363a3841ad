"""Phase names and planned values from awork list names; the list of a task in several lists."""

from __future__ import annotations

import pytest

from hq_sync.transform.phases import choose_list, parse_list_name


@pytest.mark.parametrize(
    ("raw", "name", "hours"),
    [
        ("Konzeption [5,4d]", "Konzeption", 43.2),
        ("Review [2,5h]", "Review", 2.5),
        ("Review [2h]", "Review", 2.0),
        ("Design  [ 3 D ]", "Design", 24.0),
        ("Umsetzung [1.5h]", "Umsetzung", 1.5),
        ("  Ohne Wert  ", "Ohne Wert", None),
        ("Text [mit] Klammer in der Mitte", "Text [mit] Klammer in der Mitte", None),
    ],
)
def test_valid_names(raw, name, hours):
    parsed = parse_list_name(raw)
    assert (parsed.name, parsed.planned_hours, parsed.problem) == (name, hours, None)


@pytest.mark.parametrize("raw", ["Review [viel]", "Review [5x]", "Review [1.000h]", "Review [3d", "Review [5,4]", "Review []"])
def test_malformed_brackets_stay_in_the_name_and_are_reported(raw):
    parsed = parse_list_name(raw)
    assert parsed.name == raw
    assert parsed.planned_hours is None
    assert parsed.problem


def test_only_a_bracket_keeps_the_name():
    parsed = parse_list_name("[5d]")
    assert parsed.name == "[5d]" and parsed.planned_hours is None and parsed.problem


def test_a_task_without_list():
    choice = choose_list([])
    assert choice.list_id is None and not choice.ambiguous


def test_lowest_order_then_name_then_id():
    lists = [{"id": "b", "name": "Review", "order": 2}, {"id": "a", "name": "Konzeption", "order": 1}]
    assert choose_list(lists).list_id == "a"
    assert choose_list(list(reversed(lists))).list_id == "a"
    same_order = [{"id": "z", "name": "beta", "order": 1}, {"id": "y", "name": "Alpha", "order": 1}]
    assert choose_list(same_order).list_id == "y"
    same_name = [{"id": "2", "name": "X", "order": 1}, {"id": "1", "name": "x", "order": 1}]
    choice = choose_list(same_name)
    assert choice.list_id == "1" and choice.ambiguous and choice.candidates == ("1", "2")


def test_staged_lists_override_the_embedded_copy_and_archived_lists_lose():
    memberships = [{"id": "a", "name": "A", "order": 1}, {"id": "b", "name": "B", "order": 2}]
    assert choose_list(memberships, {"a": {"order": 9}}).list_id == "b"
    assert choose_list(memberships, {"a": {"isArchived": True}}).list_id == "b"
    assert choose_list([{"id": "a", "order": None}, {"id": "b", "order": 5}]).list_id == "b"
