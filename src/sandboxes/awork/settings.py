"""Switches for behaviour where awork's sources disagree or are unsure (docs/sandbox/awork.md).

Effective settings of a tenant = ``DEFAULTS`` <- global overrides (``PUT /_sandbox/settings``) <-
the tenant's overrides (``settings`` in the tenant registration, ``PUT /_sandbox/tenants/{t}/settings``).
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Pagination: the prose docs say 1000 by default, the OpenAPI spec says 10.
    "default_page_size": 1000,
    "max_page_size": 1000,
    # pageSize above the maximum: "clamp" to the maximum, or "error" (400 validation-failed).
    "page_size_over_max": "clamp",
    # Workspace rate limit (shared by every token of the workspace); null switches a window off.
    "rate_limit_per_minute": 1000,
    "rate_limit_per_second": 50,
    # Send the ratelimit-* headers on every answer, not only on 429 (the docs imply so).
    "ratelimit_headers_on_success": True,
    # Retry-After on 429 is not documented by awork; off by default, on to test clients that use it.
    "retry_after_header": False,
    # OAuth lifetimes in seconds.
    "access_token_lifetime": 86400,
    "refresh_token_lifetime": 30 * 86400,
    "authorization_code_lifetime": 600,
    # Refuse authorization requests without a PKCE S256 code_challenge.
    "require_pkce": True,
    # 401 answers: "error_response" (awork ErrorResponse body + WWW-Authenticate) or "empty"
    # (ASP.NET JwtBearer style: no body, only WWW-Authenticate).
    "auth_error_style": "error_response",
    # Token endpoint errors: "awork" ({"code","description"}, seen in awork-io/awork#97) or
    # "oauth" ({"error","error_description"}, RFC 6749).
    "token_error_style": "awork",
    # GET /users lists the API users behind API keys (the spec says so).
    "list_api_users": True,
    # Nested objects without a value (a project without company, ...): "omit" the key (the spec
    # marks them non-nullable) or send "null".
    "null_nested_objects": "omit",
    # Also serve GET /projects/{id}/tasks (not in awork's spec; the spec path is /projecttasks).
    "project_tasks_alias": False,
    # Bump updatedOn of time entries when their project/task/type of work changes (unknown in awork).
    "touch_time_entries_on_parent_change": False,
    # Bump a project's updatedOn when one of its tasks or task lists is written or deleted (unknown
    # in awork; the sync learns it and reads unchanged projects' lists and tasks only if so, issue #12).
    "project_updated_on_child_change": True,
    # Generate a project key from the name when POST /projects has none.
    "auto_project_key": True,
    # String comparisons in filterby/orderby ignore case (SQL Server's default collation).
    "filter_strings_case_insensitive": True,
    # filterby: a GUID/date property compared with a plain string literal is an error
    # (awork requires the guid'…' / datetime'…' prefixes).
    "strict_filter_types": True,
    # GET /timeentries: "honoured" filterby and orderby, or silently drops "filter_ignored" /
    # "order_ignored" / both "ignored" (unconfirmed for this endpoint, awork.md §9.5; issue #10).
    "time_entries_query": "honoured",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "page_size_over_max": ("clamp", "error"),
    "auth_error_style": ("error_response", "empty"),
    "token_error_style": ("awork", "oauth"),
    "null_nested_objects": ("omit", "null"),
    "time_entries_query": ("honoured", "filter_ignored", "order_ignored", "ignored"),
}
_NULLABLE_INTS = {"rate_limit_per_minute", "rate_limit_per_second"}


def validate_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Check a settings body; returns it unchanged or raises ``ValueError`` naming the problem."""
    for key, value in overrides.items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown setting {key!r}; known: {sorted(DEFAULTS)}")
        default = DEFAULTS[key]
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ValueError(f"{key} must be one of {_CHOICES[key]}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
        elif isinstance(default, int):
            if value is None and key in _NULLABLE_INTS:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer")
    return overrides


def effective(global_overrides: dict[str, Any], tenant_overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings in force: defaults, then global overrides, then the tenant's."""
    return {**DEFAULTS, **global_overrides, **tenant_overrides}
