"""The Personio sandbox: v2 auth, persons, absence types and absence periods, plus v1 auth.

See docs/sandbox/personio.md for the behaviour, the admin endpoints and the switches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from sandboxes.common.harness import Harness, VendorAnswer, VendorHooks
from sandboxes.personio import absence_periods, absence_types, admin, auth, breakdowns, persons, webhooks
from sandboxes.personio.errors import install_error_handlers, v2_error_body
from sandboxes.personio.ratelimit import RateLimitMiddleware, too_many_requests
from sandboxes.personio.state import PersonioState

_SERVER_ERRORS = {
    500: "There was a problem while processing this request. Please try again later.",
    503: "The server is temporarily unavailable. Please try again later.",
}


def _hooks(state: PersonioState) -> VendorHooks:
    def rate_limited(wait: float) -> VendorAnswer:
        # The harness does not say which endpoint was hit; absence-periods is the busiest one.
        # Personio sends no Retry-After, so ``wait`` is deliberately unused.
        status, headers, body = too_many_requests(state.settings, "absence-periods", "/v2/absence-periods")
        if body is None:  # the harness always sends a JSON body
            body = v2_error_body(429, "Too many requests.", "/v2/absence-periods")
        return status, headers, body

    def server_error(status: int) -> VendorAnswer:
        return status, {}, v2_error_body(status, _SERVER_ERRORS.get(status, "Server error."), "")

    return VendorHooks(name="personio", too_many_requests=rate_limited, server_error=server_error, reset=state.reset)


def create_app(data_dir: Path) -> ASGIApp:
    """Return the ASGI app serving the Personio sandbox with its data under ``data_dir``."""
    state = PersonioState.open(Path(data_dir))
    app = FastAPI(
        title="Personio sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json", redoc_url=None
    )
    app.state.personio = state
    install_error_handlers(app)
    for module in (auth, persons, absence_types, absence_periods, breakdowns, admin):
        app.include_router(module.router)
    webhooks.install(app, state)  # /v2/webhooks, deliveries, /_sandbox/webhooks (issue #14)
    harness = Harness(_hooks(state))
    app.include_router(harness.router())

    def tenant_of_token(token: str) -> str | None:
        found = state.registry.lookup(token)
        return found.tenant if found else None

    limited: Any = RateLimitMiddleware(app, state.settings, state.buckets, tenant_of_token)
    return harness.wrap(limited)
