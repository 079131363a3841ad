"""What every pipeline step needs to know about the run it belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from hq_sync.config import TenantConfig


@dataclass(frozen=True)
class RunContext:
    tenant: TenantConfig
    source: str  # "personio" | "awork"
    dag_id: str
    run_id: str
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    staging: Engine
