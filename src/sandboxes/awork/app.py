"""Placeholder: replaced by the awork sandbox implementation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp

from sandboxes.common.harness import Harness, VendorHooks


def create_app(data_dir: Path) -> ASGIApp:
    app = FastAPI(title="awork sandbox")
    hooks = VendorHooks(
        name="awork",
        too_many_requests=lambda wait: (429, {}, {"error": "too many requests"}),
        server_error=lambda status: (status, {}, {"error": "server error"}),
        reset=lambda: None,
    )
    return Harness(hooks).install(app)
