"""awork's error answers: the ``ErrorResponse`` body, the 401 answers and the 429 answer.

awork documents one error body for every failure (``code``, ``description`` and ``link`` are
required; ``traceId``, ``details`` and ``validationErrors`` are optional). The rate-limit answer comes
from awork's edge (Kong-style headers); its body is not documented, so it is the Kong default.
"""

from __future__ import annotations

import math
from typing import Any

ERROR_LINK = "https://developers.awork.com/#response-types"
RATE_LIMIT_BODY: dict[str, str] = {"message": "API rate limit exceeded"}


class AworkError(Exception):
    """A vendor error; the app turns it into awork's ``ErrorResponse`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        details: list[str] | None = None,
        validation_errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        empty_body: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.details = details
        self.validation_errors = validation_errors
        self.headers = headers or {}
        # ASP.NET's JwtBearer answers 401 without a body; one switch reproduces that.
        self.empty_body = empty_body

    def body(self, trace_id: str | None) -> dict[str, Any]:
        """The JSON ``ErrorResponse`` for this error."""
        body: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "link": ERROR_LINK,
            "traceId": trace_id,
        }
        if self.details is not None:
            body["details"] = self.details
        if self.validation_errors is not None:
            body["validationErrors"] = self.validation_errors
        return body


class RateLimited(Exception):
    """The workspace exceeded its rate limit; carries the headers of the 429 answer."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limited")
        self.headers = headers


def not_found(what: str) -> AworkError:
    """404 ``not-found`` for a missing entity (``what`` like "Project")."""
    return AworkError(404, "not-found", f"The {what.lower()} was not found.")


def validation_failed(errors: list[tuple[str, str]]) -> AworkError:
    """400 ``validation-failed`` with one ``{property, message}`` per ``(property, message)``."""
    return AworkError(
        400,
        "validation-failed",
        "The model sent in the request is invalid. See the validation errors for details.",
        validation_errors=[{"property": p, "message": m} for p, m in errors],
    )


def invalid_operation(description: str) -> AworkError:
    """400 ``invalid-operation`` (a well-formed request that the business rules refuse)."""
    return AworkError(400, "invalid-operation", description)


def invalid_filter(detail: str) -> AworkError:
    """400 ``invalid-filter-or-order`` with awork's description and our parser's detail."""
    return AworkError(
        400,
        "invalid-filter-or-order",
        "Something is wrong with the given 'filterby' or 'orderby' expression.",
        details=[detail],
    )


def rate_limit_headers(
    *,
    per_second: int | None,
    per_minute: int | None,
    remaining_second: int | None,
    remaining_minute: int | None,
    reset_second: float,
    reset_minute: float,
) -> dict[str, str]:
    """The ``ratelimit-*`` and ``x-ratelimit-*`` headers awork's edge sends.

    ``ratelimit-limit/-remaining/-reset`` describe the window with the fewest requests left (Kong
    behaviour); ``ratelimit-reset`` is whole seconds until that window starts over.
    """
    headers: dict[str, str] = {}
    windows: list[tuple[int, int, float]] = []  # (remaining, limit, reset)
    if per_second is not None and remaining_second is not None:
        headers["x-ratelimit-limit-second"] = str(per_second)
        headers["x-ratelimit-remaining-second"] = str(remaining_second)
        windows.append((remaining_second, per_second, reset_second))
    if per_minute is not None and remaining_minute is not None:
        headers["x-ratelimit-limit-minute"] = str(per_minute)
        headers["x-ratelimit-remaining-minute"] = str(remaining_minute)
        windows.append((remaining_minute, per_minute, reset_minute))
    if windows:
        # Fewest remaining first; on a tie the longer wait is the honest one to announce.
        remaining, limit, reset = min(windows, key=lambda w: (w[0], -w[2]))
        headers["ratelimit-limit"] = str(limit)
        headers["ratelimit-remaining"] = str(remaining)
        headers["ratelimit-reset"] = str(max(1, math.ceil(reset)))
    return headers
