"""Event triggers for Airflow assets (run by the triggerer, never at DAG-parse time).

``TimesheetFolderTrigger`` watches one tenant's timesheet drop folder. A file that has stopped
growing (same size and modification time at two looks, ``poke_interval`` apart) is claimed —
renamed into ``<folder>/.queue/`` — and reported as one event, so each file is reported exactly
once, also when the triggerer restarts (claimed files are no longer in the drop folder). The event
updates the asset ``timesheets_inbox__<tenant>``, which starts that tenant's dispatcher DAG; the
dispatcher starts one import run per queued file (docs/timesheets.md).

Why a trigger of our own: the standard provider's event triggers watch one known file name
(``FileDeleteTrigger``, ``DirectoryFileDeleteTrigger``) and delete it, while timesheets arrive
under any name and must be kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from hq_sync.timesheets.files import claim, waiting_files


class TimesheetFolderTrigger(BaseEventTrigger):
    """Yields ``{"tenant", "file", "name", "size"}`` once per file dropped into ``directory``."""

    def __init__(self, directory: str, tenant: str = "", poke_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's trigger base is not typed
        self.directory = directory
        self.tenant = tenant
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "hq_sync.airflow.triggers.TimesheetFolderTrigger",
            {"directory": self.directory, "tenant": self.tenant, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        folder = Path(self.directory)
        try:  # so that people find the folder to drop files into
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            self.log.warning("timesheet folder %s of tenant %s cannot be created: %s", folder, self.tenant, exc)
        seen: dict[str, tuple[int, float]] = {}
        while True:
            current = await asyncio.to_thread(waiting_files, folder)
            for name, stat in sorted(current.items()):
                if seen.get(name) != stat:
                    continue  # new or still growing: look again next time
                claimed = await asyncio.to_thread(claim, folder, name)
                if claimed is not None:
                    self.log.info("timesheet %s arrived for tenant %s (queued as %s)", name, self.tenant, claimed.name)
                    event = {"tenant": self.tenant, "file": str(claimed), "name": name, "size": stat[0]}
                    yield TriggerEvent(event)  # type: ignore[no-untyped-call]  # not typed in Airflow
            seen = current
            await asyncio.sleep(self.poke_interval)
