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
        if tenant.get("links"):
            lines.append(link_projects(urls, tenant))
    return lines


def link_projects(urls: Mapping[str, str], tenant: Mapping[str, Any]) -> str:
    """Set HQ projects' "awork Link" to the awork project of the given name (A3: a manual link).

    Needs both sections' credentials: the HQ sync token and the first awork API key.
    """
    tenant_id = str(tenant["id"])
    hq_token = tenant["hq"].get("sync_token") or f"hq-{tenant_id}-sync"
    awork_key = tenant["awork"]["credentials"]["api_keys"][0]
    awork_key = awork_key["key"] if isinstance(awork_key, Mapping) else awork_key
    hq = requests.Session()
    hq.headers["Authorization"] = f"Bearer {hq_token}"
    awork = requests.Session()
    awork.headers["Authorization"] = f"Bearer {awork_key}"

    awork_projects = {
        p["name"]: p["id"]
        for p in awork.get(f"{urls['awork']}/api/v1/projects", params={"pageSize": 1000}, timeout=30).json()
    }
    hq_projects = {
        p["Name"]: p["Id"]
        for p in hq.get(f"{urls['hq']}/v1/Projects", params={"$top": 1000}, timeout=30).json()["value"]
    }
    definitions = hq.get(f"{urls['hq']}/v1/CustomFieldDefinitions", params={"$top": 1000}, timeout=30).json()["value"]
    [link_field] = [d["Id"] for d in definitions if d["Name"] == "awork Link" and d.get("Category") == "Project"]
    for link in tenant["links"]:
        url = f"https://{tenant_id}.awork.com/projects/{awork_projects[link['awork_project']]}"
        resp = hq.put(
            f"{urls['hq']}/v1/Projects({hq_projects[link['hq_project']]})/CustomFields({link_field})",
            json={"Value": url},
            timeout=30,
        )
        resp.raise_for_status()
    return f"links {tenant_id}: {len(tenant['links'])} HQ projects linked to awork projects"
