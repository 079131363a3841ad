"""Quotation/invoice arithmetic: position totals, group sums and document totals.

v1 positions have no parent link, so groups are expressed by order (HQ's structure is assumed, see
docs/sandbox/hq.md):

- positions are taken in ``Order`` (then Id);
- a ``GroupHeader`` or ``PositionGroup`` opens a group that holds the following priced positions
  until the next ``GroupHeader``/``PositionGroup``, a ``Subtotal`` or the end;
- the group position's ``TotalPrice`` is the sum of its members; a ``Subtotal`` carries the sum of
  the group it closes (or, outside any group, of everything since the previous ``Subtotal``);
- optional positions (``IsOptional``) and structural ones (``Textline``, groups, subtotals) do not
  count toward the document totals.
"""

from __future__ import annotations

from sandboxes.hq.model import STRUCTURAL_POSITION_TYPES, Record

GROUP_OPENERS = frozenset({"GroupHeader", "PositionGroup"})


def _num(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def price_position(pos: Record) -> tuple[float, float]:
    """Sets a priced position's computed totals; returns (TotalPrice, TotalVat)."""
    unit = _num(pos.get("Price")) * (1 + _num(pos.get("Margin")) / 100) * (1 - _num(pos.get("Discount")) / 100)
    total = unit * _num(pos.get("Amount"), 1.0)
    vat = total * _num(pos.get("Tax")) / 100
    pos["TotalUnitPrice"] = round(unit, 2)
    pos["TotalPrice"] = round(total, 2)
    pos["TotalVat"] = round(vat, 2)
    return total, vat


def recompute(document: Record, positions: list[Record]) -> list[Record]:
    """Recomputes every position's totals and the document totals in place.

    Returns the positions whose computed values changed (to be stored).
    """
    changed: list[Record] = []
    before = {p["Id"]: (p.get("TotalPrice"), p.get("TotalUnitPrice"), p.get("TotalVat")) for p in positions}
    net = vat = 0.0
    group: Record | None = None
    group_sum = since_subtotal = 0.0

    def close_group() -> None:
        nonlocal group, group_sum
        if group is not None:
            group["TotalPrice"] = round(group_sum, 2)
        group, group_sum = None, 0.0

    for pos in sorted(positions, key=lambda p: (p.get("Order") or 0, p["Id"])):
        kind = pos.get("Type") or "Freetext"
        if kind in STRUCTURAL_POSITION_TYPES:
            pos["TotalUnitPrice"] = 0.0
            pos["TotalVat"] = 0.0
            pos["TotalPrice"] = 0.0
            if kind in GROUP_OPENERS:
                close_group()
                group = pos
            elif kind == "Subtotal":
                pos["TotalPrice"] = round(group_sum if group is not None else since_subtotal, 2)
                close_group()
                since_subtotal = 0.0
            continue
        total, tax = price_position(pos)
        if pos.get("IsOptional"):
            continue
        group_sum += total
        since_subtotal += total
        net += total
        vat += tax
    close_group()

    adjusted = net * (1 + _num(document.get("Margin")) / 100)
    discount = _num(document.get("Discount"))
    if document.get("DiscountType") == "Percent":
        adjusted *= 1 - discount / 100
    elif document.get("DiscountType") == "NetValue":
        adjusted -= discount
    factor = adjusted / net if net else 1.0
    vat *= factor
    if document.get("TaxOption") not in (None, "VatApplicable"):
        vat = 0.0
    document["NetTotal"] = round(adjusted, 2)
    document["VatTotal"] = round(vat, 2)
    document["GrossTotal"] = round(adjusted + vat, 2)
    document["PaidTotal"] = document.get("PaidTotal") or 0.0
    for pos in positions:
        if before[pos["Id"]] != (pos.get("TotalPrice"), pos.get("TotalUnitPrice"), pos.get("TotalVat")):
            changed.append(pos)
    return changed
