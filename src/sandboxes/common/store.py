"""A small JSON document store for the sandbox servers.

Every record is a JSON object kept in memory (for fast filtering) and written through to one SQLite
file, so a sandbox restarted on the same data directory serves the same data. Records are grouped by
``(tenant, kind)``; ``kind`` is the vendor's resource name ("time_entries", "Absences", ...).

This is sandbox infrastructure, not product code: the product keeps its own staging database.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class Store:
    """Tenant-scoped JSON records with write-through persistence.

    All methods are thread-safe: FastAPI runs synchronous endpoints in a thread pool.
    ``all()`` and ``get()`` return deep copies, so callers may mutate what they get.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a process crash (not an OS crash): plenty for a sandbox, 10x faster.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records ("
            " tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,"
            " body TEXT NOT NULL, PRIMARY KEY (tenant, kind, id))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._data: dict[tuple[str, str], dict[str, Record]] = {}
        self._seq = 0
        for tenant, kind, rid, seq, body in self._db.execute(
            "SELECT tenant, kind, id, seq, body FROM records ORDER BY seq"
        ):
            self._data.setdefault((tenant, kind), {})[rid] = json.loads(body)
            self._seq = max(self._seq, seq)

    # -- reads -----------------------------------------------------------------------------
    def all(self, tenant: str, kind: str) -> list[Record]:
        """Every record of a kind for a tenant, in insertion order (deep copies)."""
        with self._lock:
            return copy.deepcopy(list(self._data.get((tenant, kind), {}).values()))

    def iter_shared(self, tenant: str, kind: str) -> Iterator[Record]:
        """Like ``all()`` but without copying: callers must not mutate what they get."""
        with self._lock:
            items = list(self._data.get((tenant, kind), {}).values())
        return iter(items)

    def get(self, tenant: str, kind: str, rid: str | int) -> Record | None:
        with self._lock:
            rec = self._data.get((tenant, kind), {}).get(str(rid))
            return copy.deepcopy(rec) if rec is not None else None

    def count(self, tenant: str, kind: str) -> int:
        with self._lock:
            return len(self._data.get((tenant, kind), {}))

    def tenants(self) -> set[str]:
        with self._lock:
            return {tenant for tenant, _ in self._data}

    # -- writes ----------------------------------------------------------------------------
    def put(self, tenant: str, kind: str, rid: str | int, record: Record) -> Record:
        """Insert or replace a record; returns a copy of what was stored."""
        rid = str(rid)
        with self._lock:
            bucket = self._data.setdefault((tenant, kind), {})
            self._seq += 1
            bucket[rid] = copy.deepcopy(record)
            self._db.execute(
                "INSERT INTO records (tenant, kind, id, seq, body) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, kind, id) DO UPDATE SET body = excluded.body",
                (tenant, kind, rid, self._seq, json.dumps(record)),
            )
            return copy.deepcopy(record)

    def put_many(self, tenant: str, kind: str, records: list[tuple[str | int, Record]]) -> None:
        """Bulk insert in one transaction (scenario seeding)."""
        with self._lock:
            bucket = self._data.setdefault((tenant, kind), {})
            rows = []
            for rid, record in records:
                self._seq += 1
                bucket[str(rid)] = copy.deepcopy(record)
                rows.append((tenant, kind, str(rid), self._seq, json.dumps(record)))
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO records (tenant, kind, id, seq, body) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, kind, id) DO UPDATE SET body = excluded.body",
                rows,
            )
            self._db.execute("COMMIT")

    def delete(self, tenant: str, kind: str, rid: str | int) -> bool:
        """Hard delete; returns whether the record existed."""
        rid = str(rid)
        with self._lock:
            existed = self._data.get((tenant, kind), {}).pop(rid, None) is not None
            self._db.execute("DELETE FROM records WHERE tenant = ? AND kind = ? AND id = ?", (tenant, kind, rid))
            return existed

    def next_id(self, name: str, start: int = 1) -> int:
        """A persistent counter (integer ids such as HQ's), unique per ``name``."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            value = (row[0] + 1) if row else start
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
            return value

    def reset(self, tenant: str | None = None) -> None:
        """Forget everything (or one tenant's records)."""
        with self._lock:
            if tenant is None:
                self._data.clear()
                self._db.execute("DELETE FROM records")
                self._db.execute("DELETE FROM counters")
            else:
                for key in [k for k in self._data if k[0] == tenant]:
                    del self._data[key]
                self._db.execute("DELETE FROM records WHERE tenant = ?", (tenant,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
