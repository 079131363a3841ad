"""Progress of long steps in the task log, and summary lines a person can read.

A load of thousands of records must not be silent for minutes: ``Progress`` logs
``<what>: <done>/<total> (<pct>), <rate>/s, ETA <time>`` at a steady interval (and once at the end),
so the Airflow log view shows that a step moves and when it will be done. ``summary_line`` turns a
step's counts into one short ``key=value`` line instead of a long Python dict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_INTERVAL_S = 15.0


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts work done in a long step and logs it at most every ``interval`` seconds.

    ``total`` may be None when it is not known up front (then no percentage and no ETA).
    """

    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        logger: logging.Logger | None = None,
        interval: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._log = logger or logging.getLogger("hq_sync.progress")
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more records done; logs a progress line when the interval has passed."""
        self.done += n
        now = self._clock()
        if now - self._last_logged >= self._interval:
            self._last_logged = now
            self._log.info("%s", self.line(now))

    def finish(self) -> str:
        """Log (and return) the closing line: how many, how long, at what rate."""
        now = self._clock()
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.what}: {self.done} done in {_duration(elapsed)} ({rate:.1f}/s)"
        self._log.info("%s", text)
        return text

    def line(self, now: float | None = None) -> str:
        """The current progress as one line: done/total, percentage, rate and ETA when known."""
        now = self._clock() if now is None else now
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = 100.0 * self.done / self.total
            left = max(self.total - self.done, 0)
            eta = _duration(left / rate) if rate > 0 else "unknown"
            return f"{self.what}: {self.done}/{self.total} ({pct:.0f}%), {rate:.1f}/s, ETA {eta}"
        return f"{self.what}: {self.done} done, {rate:.1f}/s"


def summary_line(counts: Mapping[str, Any], *, skip_zero: bool = True) -> str:
    """Counts as one readable line: ``created=12 updated=3 quarantined=2 (unknown_email=2)``.

    Nested mappings (per-reason details) are shown in parentheses; zero counts are left out unless
    ``skip_zero`` is False, and an empty result reads ``nothing to do``.
    """
    parts: list[str] = []
    for key, value in counts.items():
        if isinstance(value, Mapping):
            inner = summary_line(value, skip_zero=skip_zero)
            if inner != "nothing to do":
                parts.append(f"{key}: ({inner})")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            if value not in (None, "", [], {}):
                parts.append(f"{key}={value}")
        elif value or not skip_zero:
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts) if parts else "nothing to do"
