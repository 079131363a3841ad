"""Per-tenant switches for behaviour the sources disagree on or leave open (docs/sandbox/hq.md).

Each switch has a documented default; a tenant registration may set any of them under
``settings``, and ``PUT /_sandbox/tenants/{tenant}/settings`` changes them later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sandboxes.hq.errors import bad_request

_CHOICES: dict[str, tuple[Any, ...]] = {
    "top_over_max": ("error", "cap"),
    "string_compare": ("case_sensitive", "case_insensitive"),
    "half_day_end": ("instant", "previous_day"),
    "full_day_only_half_days": ("reject", "round_up"),
    "project_create_answer": ("array", "object"),
    "put_semantics": ("replace", "merge"),
    "personio_lock_status": (400, 403),
    "billed_status": (400, 409),
}


@dataclass
class TenantSettings:
    """The switches of one tenant (defaults: see docs/sandbox/hq.md)."""

    # Absence writes with a user token are refused while Personio's sync is on (B7).
    personio_sync: bool = False
    # Status answered for such a refused write (HQ documents only 400 for failed validation).
    personio_lock_status: int = 400
    # Status answered for a change to a billed reporting.
    billed_status: int = 400
    # `$top` above `max_top`: 400 like ASP.NET OData's MaxTop ("error"), or silently capped.
    max_top: int = 1000
    top_over_max: str = "error"
    # Server-driven paging: a collection without `$top` answers at most this many entities and an
    # `@odata.nextLink`; None turns server paging off.
    server_page_size: int | None = 1000
    # Whether such a cut-short page carries ``@odata.nextLink`` (seen in one v1 client, M/L). Off: the
    # page just ends early and a client must ask for the next ``$skip`` itself (issue #10).
    next_link: bool = True
    # Whether `$count=true` adds `@odata.count` (documented, H); off: the option is silently ignored.
    honour_count: bool = True
    # `$filter`/`$orderby` string comparison (eq, contains, ...). HQ runs on SQL Server, whose
    # default collation compares case-insensitively (likely, L); OData's own rule is case-sensitive.
    string_compare: str = "case_insensitive"
    # HQ's README: "If you want to filter on a sub-entity, make sure to expand the entity first."
    filter_requires_expand: bool = True
    # How an absence End at T12:00 reads: "instant" (End is an exclusive instant on a half-day grid:
    # 2025-03-03T00:00 .. 2025-03-03T12:00 is the morning of 3 March) or "previous_day" (HQ's example
    # taken literally: End 2025-03-04T12:00 makes 3 March the last, half, day).
    half_day_end: str = "instant"
    # A half day on an "only full days" type: rejected (400) or extended to the full day.
    full_day_only_half_days: str = "reject"
    # `POST /v1/Projects/do.Create` answers 201 with an array holding the project (as the Swagger
    # file says) or with the project object.
    project_create_answer: str = "array"
    # PUT replaces the writable fields (omitted ones are reset) or merges the given ones.
    put_semantics: str = "replace"
    # Deepest allowed task level (1 = phases only, 2 = phases and tasks); None: unlimited.
    max_task_depth: int | None = 2
    # HQ setting "Reporting auf geschlossene Aufgaben unterbinden" (must be off for awork).
    block_reporting_on_done_tasks: bool = False
    # Whether writing a custom-field value also bumps the owning entity's UpdatedOn.
    custom_field_write_touches_parent: bool = False
    # OAuth (POST /Token): access-token lifetime in seconds (HQ's example answers expires_in 1199),
    # and whether a refresh replaces the refresh token (HQ's SDK: "can return a new one").
    access_token_lifetime: int = 1199
    refresh_token_rotation: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Returns the settings as a JSON object."""
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Applies ``changes``; raises a 400 HQError for unknown switches or invalid values."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise bad_request(f"unknown settings {unknown}; known: {sorted(known)}")
        for name, value in changes.items():
            current = getattr(self, name)
            if name in _CHOICES:
                if value not in _CHOICES[name]:
                    raise bad_request(f"setting {name!r} must be one of {list(_CHOICES[name])}")
            elif isinstance(current, bool) or name in (
                "personio_sync",
                "filter_requires_expand",
                "next_link",
                "honour_count",
            ):
                if not isinstance(value, bool):
                    raise bad_request(f"setting {name!r} must be true or false")
            elif name in ("server_page_size", "max_task_depth"):
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                    raise bad_request(f"setting {name!r} must be a positive integer or null")
            elif name in ("max_top", "access_token_lifetime"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise bad_request(f"setting {name!r} must be a positive integer")
            setattr(self, name, value)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantSettings:
        """Returns settings with ``data`` applied over the defaults (validated)."""
        settings = cls()
        settings.update(data)
        return settings
