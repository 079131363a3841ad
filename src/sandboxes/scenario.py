"""Load a scenario (YAML file, dict or 'demo') into running sandboxes over HTTP.

A scenario is ``{"tenants": [{"id": ..., "hq": {...}, "awork": {...}, "personio": {...}}]}``;
each vendor section is loaded by ``sandboxes.<vendor>.seed.seed_tenant`` (docs/sandbox/<vendor>.md
describes its format). HQ is seeded first: the other tools' people are matched to its users.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

SEED_ORDER = ("hq", "awork", "personio")


def read_scenario(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The scenario as a dict: ``'demo'`` (generated), a YAML file path, or a dict."""
    if isinstance(source, Mapping):
        return dict(source)
    if str(source) == "demo":
        from sandboxes.scenarios.demo import demo_scenario

        return demo_scenario()
    data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tenants"), list):
        raise ValueError(f"{source}: a scenario needs a top-level 'tenants' list")
    return data


def load_scenario(source: str | Path | Mapping[str, Any], urls: Mapping[str, str], *, reset: bool = False) -> list[str]:
    """Seed every tenant's sections; returns one summary line per tenant and vendor."""
    scenario = read_scenario(source)
    if reset:
        for vendor in SEED_ORDER:
            requests.post(f"{urls[vendor]}/_sandbox/reset", timeout=30).raise_for_status()
    lines: list[str] = []
    for tenant in scenario["tenants"]:
        for vendor in SEED_ORDER:
            section = tenant.get(vendor)
            if section is None:
                continue
            seed = importlib.import_module(f"sandboxes.{vendor}.seed")
            lines += seed.seed_tenant(urls[vendor], str(tenant["id"]), section)
    return lines
