"""What the sync reads from awork's user objects (awork.md §8.5).

``user_email(user)`` returns a user's e-mail address (a ``str``) or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EMAIL_SUBTYPE_RANK = {"work": 0, None: 1, "": 1, "other": 2, "private": 3}


def user_email(user: Mapping[str, Any]) -> str | None:
    """A user's e-mail: awork has no top-level e-mail, it is the ``userContactInfos`` entry of
    ``type == "email"`` (§8.5). With several, ``subType`` work wins, then none/other, private last
    (first listed on a tie). Returned trimmed, as stored; None for users without one (API users).
    """
    best: tuple[int, int, str] | None = None
    for index, info in enumerate(user.get("userContactInfos") or []):
        if not isinstance(info, Mapping) or str(info.get("type") or "").lower() != "email":
            continue
        value = str(info.get("value") or "").strip()
        if "@" not in value:
            continue
        sub = info.get("subType")
        rank = _EMAIL_SUBTYPE_RANK.get(sub.lower() if isinstance(sub, str) else sub, 2)
        if best is None or (rank, index) < best[:2]:
            best = (rank, index, value)
    return best[2] if best else None
