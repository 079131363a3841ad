"""The timesheet folder of a tenant: where files are dropped, claimed, kept and explained.

```
<folder>/                     drop .xlsx / .csv files here (or upload them on the Sync status page)
<folder>/.queue/              claimed by the watcher (the file stopped growing), waiting for dispatch
<folder>/archive/YYYY-MM/     every dispatched file, kept; the import run reads it from here
<folder>/archive/YYYY-MM/<file>.refused.txt   why a file was refused (nothing of it was imported)
```

All moves are renames within one file system (atomic), so a file is never seen half-written by
two parties, and a file claimed twice is impossible. Plain functions: the watcher trigger
(``hq_sync.airflow.triggers``) and the dispatch step call them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hq_sync.config import TenantConfig
from hq_sync.paths import data_dir

QUEUE = ".queue"
ARCHIVE = "archive"
REFUSED_SUFFIX = ".refused.txt"
# Not (yet) a timesheet: hidden files, Office lock files, partial downloads and uploads.
_SKIP = re.compile(r"^(\.|~\$)|\.(part|partial|tmp|crdownload|download)$|\.refused\.txt$", re.IGNORECASE)


class FileOutsideFolder(ValueError):
    """A file path given to an import run is not inside the tenant's timesheet folder."""


def folder_of(tenant: TenantConfig) -> Path:
    """The tenant's timesheet folder (a path only: nothing is read or created)."""
    cfg = tenant.sources.timesheets
    configured = cfg.folder if cfg is not None else None
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else data_dir() / path
    return data_dir() / "timesheets" / tenant.id


def is_candidate(name: str) -> bool:
    """Whether a file name in the drop folder may be a timesheet (not hidden, locked or partial)."""
    return not _SKIP.search(name)


def waiting_files(folder: Path) -> dict[str, tuple[int, float]]:
    """Files dropped into ``folder`` (not yet claimed): name → (size, mtime)."""
    result: dict[str, tuple[int, float]] = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return result
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and is_candidate(entry.name):
            stat = entry.stat(follow_symlinks=False)
            result[entry.name] = (stat.st_size, stat.st_mtime)
    return result


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def claim(folder: Path, name: str) -> Path | None:
    """Move a dropped file into the queue; returns its queued path (None when it is gone)."""
    queue = folder / QUEUE
    queue.mkdir(parents=True, exist_ok=True)
    target = queue / f"{_stamp()}__{name}"
    try:
        os.rename(folder / name, target)
    except FileNotFoundError:
        return None
    return target


def original_name(path: Path) -> str:
    """The name a file was dropped with (without the queue/archive time-stamp prefix)."""
    return path.name.split("__", 1)[1] if "__" in path.name else path.name


def queued_files(folder: Path) -> list[Path]:
    """Claimed files waiting for dispatch, oldest first."""
    queue = folder / QUEUE
    if not queue.is_dir():
        return []
    return sorted(p for p in queue.iterdir() if p.is_file())


@dataclass(frozen=True)
class Dispatched:
    path: Path  # where the file is kept (archive)
    name: str  # as dropped
    sha256: str
    run_id: str  # the import run of this file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_id_for(name: str, stamp: str, sha256: str) -> str:
    """A DAG run id for one dropped file: readable, unique per drop, valid in Airflow."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "file"
    return f"timesheet__{stamp}__{sha256[:8]}__{slug}"


def archive(folder: Path, queued: Path) -> Dispatched:
    """Move a queued file into the archive, where its import run reads it."""
    stamp = queued.name.split("__", 1)[0] if "__" in queued.name else _stamp()
    month = f"{stamp[:4]}-{stamp[4:6]}" if stamp[:6].isdigit() else datetime.now(UTC).strftime("%Y-%m")
    target_dir = folder / ARCHIVE / month
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / queued.name
    os.rename(queued, target)
    name = original_name(target)
    sha = sha256_of(target)
    return Dispatched(target, name, sha, run_id_for(name, stamp, sha))


def resolve_in_folder(folder: Path, given: str) -> Path:
    """A file named by an import run (absolute, or relative to the folder), checked to lie inside
    the tenant's folder: an import never reads files elsewhere."""
    path = Path(given)
    path = (path if path.is_absolute() else folder / path).resolve()
    root = folder.resolve()
    if root != path and root not in path.parents:
        raise FileOutsideFolder(f"{given} is not inside the tenant's timesheet folder {folder}")
    return path


def write_refusal(path: Path, reason: str) -> Path:
    """Put the reason a file was refused next to it (``<file>.refused.txt``); returns that path."""
    note = path.with_name(path.name + REFUSED_SUFFIX)
    note.write_text(reason + "\n", encoding="utf-8")
    return note


def save_upload(folder: Path, name: str, content: bytes) -> Path:
    """Store an uploaded file in the drop folder (written aside, then renamed: the watcher never
    sees it half-written); returns its path."""
    safe = Path(name).name.strip() or "timesheet"
    if not is_candidate(safe):
        safe = f"upload-{safe.lstrip('.~$')}"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{safe}.{_stamp()}.part"
    partial.write_bytes(content)
    target = folder / safe
    if target.exists():
        target = folder / f"{Path(safe).stem}-{_stamp()}{Path(safe).suffix}"
    os.rename(partial, target)
    return target
