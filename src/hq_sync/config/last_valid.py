"""The last valid copy of each tenant file, so a broken edit does not stop the tenant's syncing.

When a tenant file parses valid and differs from the stored copy, ``load_tenants`` stores its bytes
here; when the file is broken, the tenant's DAGs and tasks run on that copy (and say so) until the
file is fixed. A broken file without a copy keeps the old behaviour (a ``tenant_config_error`` DAG).

Layout: ``<root>/<key of the tenants dir>/<tenant id>.<sha256 prefix>.yaml``, where ``<root>`` is
``$HQ_SYNC_LAST_VALID_DIR`` or ``<data dir>/tenants-last-valid`` and the key is the tenants
directory's absolute path made into a name (so two tenant directories, e.g. in tests, never share
copies). A copy's modification time is when it was stored: "the last valid configuration from".

Cost at parse time: one directory listing per load, one SHA-256 of bytes already read per valid
file; a write only when a file changed. Safe with several DAG processors: content-addressed names, written to a
temporary file and renamed (atomic), so a reader sees a whole copy or none; the newest copy wins.
All hosts that parse DAGs (and the API server, for the status page) need the same store, i.e. a
shared volume; without one each host decides from its own copies (docs/tenants.md). A store that
cannot be written (read-only, full) is logged once and the tenant behaves as without a copy.
``HQ_SYNC_LAST_VALID_DIR=off`` turns the store off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hq_sync.paths import data_dir
from hq_sync.settings import settings

log = logging.getLogger(__name__)

_warned: set[str] = set()


@dataclass(frozen=True)
class StoredCopy:
    path: Path
    saved_at: datetime  # when it was stored (first seen valid with this content)


class LastValidStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._names: set[str] | None = None  # the store's file names, listed once per store object

    def _listing(self) -> set[str]:
        if self._names is None:
            try:
                self._names = {n for n in os.listdir(self.root) if n.endswith(".yaml")}
            except OSError:  # no store yet (or unreadable): no copies
                self._names = set()
        return self._names

    def _copies(self, tenant_id: str) -> list[str]:
        return [
            n for n in self._listing() if n.startswith(tenant_id + ".") and n.count(".") == tenant_id.count(".") + 2
        ]

    @classmethod
    def for_tenants_dir(cls, directory: Path) -> LastValidStore | None:
        """The store of one tenants directory (None when ``$HQ_SYNC_LAST_VALID_DIR`` is ``off``)."""
        base = settings().last_valid_dir or ""
        if base.strip().lower() in ("off", "none", "false", "0"):
            return None
        root = Path(base) if base else data_dir() / "tenants-last-valid"
        key = re.sub(r"[^A-Za-z0-9]+", "_", str(directory.absolute())).strip("_")[-150:] or "tenants"
        return cls(root / key)

    def remember(self, tenant_id: str, data: bytes) -> None:
        """Store a valid file's bytes unless this content is already stored (then: one stat)."""
        name = f"{tenant_id}.{hashlib.sha256(data).hexdigest()[:20]}.yaml"
        if name in self._listing():
            return
        target = self.root / name
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written = target.stat().st_mtime
            for other in self._copies(tenant_id):  # older copies (a newer one of a racing writer stays)
                try:
                    if other != name and (self.root / other).stat().st_mtime <= written:
                        (self.root / other).unlink()
                        self._listing().discard(other)
                except FileNotFoundError:
                    self._listing().discard(other)
            self._listing().add(name)
        except OSError as exc:
            if str(self.root) not in _warned:
                _warned.add(str(self.root))
                log.warning(
                    "cannot store last valid tenant files in %s (%s): a broken tenant file stops its "
                    "tenant's syncing until fixed",
                    self.root,
                    exc,
                )

    def latest(self, tenant_id: str) -> StoredCopy | None:
        """The newest stored copy of a tenant file, if any."""
        copies = []
        for name in self._copies(tenant_id):
            path = self.root / name
            try:
                copies.append(StoredCopy(path, datetime.fromtimestamp(path.stat().st_mtime, UTC)))
            except OSError:  # replaced by a concurrent writer
                continue
        return max(copies, key=lambda c: c.saved_at) if copies else None
