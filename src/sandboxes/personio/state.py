"""Everything one Personio sandbox process holds, reachable from a request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from sandboxes.common.store import Store
from sandboxes.personio.ratelimit import Buckets
from sandboxes.personio.registry import Registry
from sandboxes.personio.settings import Settings

# Store kinds of tenant data.
PERSONS = "persons"
ABSENCE_TYPES = "absence_types"
ABSENCE_PERIODS = "absence_periods"


@dataclass
class PersonioState:
    """The store, the switches, tenants/tokens and the rate-limit buckets."""

    store: Store
    settings: Settings
    registry: Registry
    buckets: Buckets
    # Serialises read-check-write sequences (overlap checks, unique e-mails) across threads.
    write_lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def open(cls, data_dir: Path) -> PersonioState:
        """Open (or create) the sandbox state kept under ``data_dir``; returns it."""
        store = Store(Path(data_dir) / "personio.sqlite3")
        settings = Settings(store)
        return cls(store=store, settings=settings, registry=Registry(store), buckets=Buckets(settings))

    def next_seq(self) -> int:
        """Return a persistent, increasing number: the listing order of new records."""
        return self.store.next_id("personio.seq")

    def reset(self) -> None:
        """Forget all data, tokens, switches, header records and buckets."""
        with self.write_lock:
            self.store.reset()
            self.settings.reset()
            self.registry.reset()
            self.buckets.reset()


def get_state(request: Request) -> PersonioState:
    """FastAPI dependency: the sandbox state of the app serving ``request``."""
    state: PersonioState = request.app.state.personio
    return state
