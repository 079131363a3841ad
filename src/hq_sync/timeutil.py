"""Time stamps as the vendors send them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 time stamp (``Z``, offsets, .NET's 7-digit fractions);
    None for empty values; naive values are taken as UTC."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:  # keep microseconds of longer fractions; the offset after them stays as it is
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
