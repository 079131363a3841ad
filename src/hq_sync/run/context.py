"""What every pipeline step needs to know about the run it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from hq_sync.config import TenantConfig

if TYPE_CHECKING:  # the clients are built by the Airflow hooks (or tests); only their types are named here
    from hq_sync.clients.awork import AworkClient
    from hq_sync.clients.hq import HqClient
    from hq_sync.clients.personio import PersonioClient


class Clients(Protocol):
    """Authenticated API clients for one tenant (built from Airflow connections, or by tests)."""

    def hq(self) -> HqClient: ...

    def personio(self) -> PersonioClient: ...

    def awork(self) -> AworkClient: ...


class RunMode(StrEnum):
    """What a run reads from the source (docs/webhooks.md#what-a-run-reads)."""

    FULL = "full"  # poll: everything changed since the last run, plus the deletion reconciliation
    EVENTS = "events"  # started by webhook events: the records the pending events name (and what changed)


@dataclass(frozen=True)
class RunContext:
    tenant: TenantConfig
    source: str  # "personio" | "awork"
    dag_id: str
    run_id: str
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    staging: Engine
    clients: Clients | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # the DAG run's params
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    mode: RunMode = RunMode.FULL

    @property
    def today(self) -> date:
        """Today in the tenant's time zone."""
        return self.now.astimezone(ZoneInfo(self.tenant.timezone)).date()

    def require_clients(self) -> Clients:
        if self.clients is None:
            raise RuntimeError("this step talks to APIs: build the RunContext with clients")
        return self.clients
