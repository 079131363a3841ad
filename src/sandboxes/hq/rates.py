"""HQ's charge-rate ("Verrechnungssatz") resolution for a new reporting.

Order of precedence (HQ help center P5/P6):

1. the project member's manual external rate (``do.AddMember`` ``ExternalChargeRateValue``), or a
   rule chosen for the member (``ExternalChargeRateId``);
2. the rule assigned to the project's customer (company);
3. the rule assigned to the user;
4. otherwise 0.

Inside a rule: the (project role, task type) entry, then the role entry, then the task-type entry,
then the rule's default. A rate a level leaves undefined (null) falls through to the next level, so
a customer rule with only external rates still lets the user's rule supply the internal cost rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandboxes.hq.model import Record

RATE_RULES = "RateRules"
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True)
class Rates:
    """The rates HQ stores on a reporting."""

    external: float
    internal: float
    currency_external: str
    currency_internal: str
    source_external: str  # which level supplied the external rate (for the admin view)
    source_internal: str


def rule_rate(rule: Record, role_id: int | None, task_type_id: int | None, which: str) -> float | None:
    """Returns ``which`` ("external"/"internal") of a rule for (role, task type), or None."""
    if role_id is not None and task_type_id is not None:
        for entry in rule.get("role_task_types", []):
            if entry.get("role_id") == role_id and entry.get("task_type_id") == task_type_id:
                if entry.get(which) is not None:
                    return float(entry[which])
    if role_id is not None:
        for entry in rule.get("roles", []):
            if entry.get("role_id") == role_id and entry.get(which) is not None:
                return float(entry[which])
    if task_type_id is not None:
        for entry in rule.get("task_types", []):
            if entry.get("task_type_id") == task_type_id and entry.get(which) is not None:
                return float(entry[which])
    default = rule.get(f"default_{which}")
    return float(default) if default is not None else None


def resolve_rates(
    rules: dict[int, Record],
    member: Record | None,
    company: Record | None,
    user: Record,
    task_type_id: int | None,
) -> Rates:
    """Returns the external and internal hourly rates for a reporting."""
    role_id = member.get("ProjectRoleId") if member else None
    chain: list[tuple[str, Record]] = []
    for source, owner in (("member rule", member), ("customer rule", company), ("user rule", user)):
        rule_id = owner.get("_rate_rule_id") if owner else None
        if rule_id is not None and rule_id in rules:
            chain.append((source, rules[rule_id]))

    def first(which: str) -> tuple[float, str, str]:
        for source, rule in chain:
            value = rule_rate(rule, role_id, task_type_id, which)
            if value is not None:
                return value, rule.get("currency") or DEFAULT_CURRENCY, f"{source} {rule.get('name')!r}"
        return 0.0, DEFAULT_CURRENCY, "none"

    manual: Any = member.get("ExternalChargeRateValue") if member else None
    if manual is not None:
        external = (float(manual), member.get("ExternalChargeRateCurrency") or DEFAULT_CURRENCY, "member rate")  # type: ignore[union-attr]
    else:
        external = first("external")
    internal = first("internal")
    return Rates(external[0], internal[0], external[1], internal[1], external[2], internal[2])
