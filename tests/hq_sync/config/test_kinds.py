"""The registry of pipeline kinds (hq_sync.kinds) is what the configuration, pipelines and DAGs read."""

from __future__ import annotations

import importlib
from typing import get_args

from hq_sync import kinds
from hq_sync.config import BACKFILL_KINDS, DAG_ID_PREFIX, SOURCES
from hq_sync.config.tenants import SourceBase, Sources


def test_the_configuration_names_come_from_the_registry() -> None:
    assert SOURCES == ("personio", "awork", "hq_to_awork", "timesheets")
    assert set(DAG_ID_PREFIX) == set(kinds.KINDS)
    assert BACKFILL_KINDS == ("personio", "awork")
    assert set(SOURCES) <= set(Sources.model_fields)


def test_a_backfill_replays_exactly_the_sources_read_by_date() -> None:
    by_date = {
        name
        for name, field in Sources.model_fields.items()
        if any(isinstance(t, type) and issubclass(t, SourceBase) for t in get_args(field.annotation))
    }
    assert set(BACKFILL_KINDS) == by_date


def test_every_kind_has_its_steps_and_known_systems() -> None:
    for kind in kinds.KINDS.values():
        module = importlib.import_module(kind.module)
        assert all(callable(getattr(module, name)) for name in kind.step_names), kind.id
        assert {s.system for s in kind.steps if s.system} <= set(kind.systems) <= set(kinds.SYSTEMS), kind.id
        assert kind.setting is None or kind.setting in SOURCES


def test_a_dag_id_names_its_kind_and_tenant() -> None:
    found = kinds.kind_of_dag_id("hq_offer_to_awork__acme-gmbh")
    assert found is not None and found[0].id == "hq_offer" and found[1] == "acme-gmbh"
    assert kinds.kind_of_dag_id("hq_offer_to_awork__acme", kinds.SOURCES) is None
    assert kinds.kind_of_dag_id("something_else__acme") is None
