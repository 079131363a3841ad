"""HQ-shaped errors.

HQ does not document its error body. The sandbox answers every error with an OData-style body::

    {"error": {"code": "BadRequest", "message": "..."}}

(see docs/sandbox/hq.md). Status codes follow HQ's README: 400 for a missing body or argument and for
failed validation, 404 for an unknown id.
"""

from __future__ import annotations

from typing import Any

STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class HQError(Exception):
    """An error answered in HQ's (sandbox-chosen) error shape."""

    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or STATUS_CODES.get(status, "Error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, Any]:
    """Returns the sandbox's OData-style error body."""
    return {"error": {"code": code, "message": message}}


def bad_request(message: str, code: str = "BadRequest") -> HQError:
    """Returns a 400 error (HQ: missing argument / validation failed)."""
    return HQError(400, message, code)


def not_found(entity: str, key: Any) -> HQError:
    """Returns a 404 error for an unknown id."""
    return HQError(404, f"No {entity} with the key '{key}' was found.", "NotFound")
