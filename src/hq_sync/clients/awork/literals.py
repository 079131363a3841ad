"""awork's ``filterby`` / ``orderby`` literals (awork.md §4).

Each function returns the text of one literal or condition, ready to go into a ``filterby``:
``datetime_literal`` → ``datetime'2026-08-01T12:00:00'``, ``guid_literal`` → ``guid'…'``,
``string_literal`` → ``'…'``, ``all_of`` → conditions joined with ``and`` (or None).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime


def datetime_literal(value: datetime | date) -> str:
    """``datetime'2026-08-01T12:00:00'``: UTC without a zone (awork reads it as UTC), whole seconds.

    Aware datetimes are converted to UTC (naive ones are refused: their zone is unknown); a
    ``date`` means its midnight UTC.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("filter datetimes must be timezone-aware")
        moment = value.astimezone(UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        raise TypeError(f"expected a datetime or date, not {type(value).__name__}")
    return f"datetime'{moment:%Y-%m-%dT%H:%M:%S}'"


def guid_literal(value: str | uuid.UUID) -> str:
    """``guid'…'`` in canonical lower case; anything that is not a GUID is refused."""
    try:
        canonical = str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not a GUID") from None
    return f"guid'{canonical}'"


def string_literal(value: str) -> str:
    """``'text'`` with awork's quote escaping (``''``)."""
    return "'" + value.replace("'", "''") + "'"


def all_of(*conditions: str | None) -> str | None:
    """Join ``filterby`` conditions with ``and`` (each parenthesised); None when there are none."""
    return _joined("and", conditions)


def any_of(*conditions: str | None) -> str | None:
    """Join ``filterby`` conditions with ``or`` (each parenthesised); None when there are none."""
    return _joined("or", conditions)


def _joined(operator: str, conditions: tuple[str | None, ...]) -> str | None:
    parts = [c.strip() for c in conditions if c and c.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return f" {operator} ".join(f"({p})" for p in parts)
