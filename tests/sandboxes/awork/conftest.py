"""Fixtures for the awork sandbox tests: real HTTP against the sandbox subprocess, every answer
to a vendor path validated against awork's OpenAPI spec (see awork_helpers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from openapi_core import Config, OpenAPI

from sandboxes.testing import SandboxServers

from .awork_helpers import (
    SPEC_FILE,
    AworkClient,
    AworkSandbox,
    Conformance,
    specs_dir,
    tolerate_known_spec_inconsistencies,
)


@pytest.fixture(scope="session")
def awork_spec() -> OpenAPI:
    """awork's OpenAPI 3.0 spec, loaded once (2.2 MB; the spec itself is not re-validated)."""
    path = specs_dir() / SPEC_FILE
    if not path.exists():
        pytest.skip(f"awork spec not found at {path} (set HQ_SYNC_SPECS_DIR)")
    spec = json.loads(path.read_text())
    tolerate_known_spec_inconsistencies(spec)
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def conformance(awork_spec: OpenAPI) -> Conformance:
    return Conformance(awork_spec)


@pytest.fixture
def aw(fresh_sandboxes: SandboxServers, conformance: Conformance) -> Iterator[AworkSandbox]:
    """A freshly reset awork sandbox (all vendors are reset by ``fresh_sandboxes``)."""
    yield AworkSandbox(fresh_sandboxes, conformance)


@pytest.fixture
def acme(aw: AworkSandbox) -> AworkClient:
    """Tenant "acme" with API key "acme-key" and users anna@acme.de (admin), ben@acme.de."""
    return aw.register("acme")
