"""Outgoing webhook deliveries of a sandbox vendor: queue, the vendor's retry rules, faults, log.

A vendor module (``sandboxes.personio.webhooks``, ``sandboxes.awork.webhooks``) turns a change made
through its API into one ``Delivery`` per matching subscription and hands it to ``Deliveries``.
Deliveries are sent from background threads (the API call that caused the change never waits),
with the vendor's rules (``Rules``): answer timeout, attempts, quick tries per attempt, which
outcomes are retried and the (compressed) delays between attempts. The vendor hears about each
finished delivery (``on_done``) to keep its own bookkeeping (awork pauses a failing webhook).

Fault switches (``POST /_sandbox/webhooks/faults``), like the harness's request faults::

    {"mode": "drop", "count": 1}                           # the next delivery is lost
    {"mode": "duplicate", "ratio": 0.5, "seed": 3}         # every other one arrives twice
    {"mode": "out_of_order", "count": 1, "seconds": 5}     # held until the next one went out
    {"mode": "late", "count": 2, "seconds": 30}            # sent 30 s late
    {"mode": "drop", "count": 1, "event": "deleted$"}      # only events whose name matches

Admin: ``GET /_sandbox/webhooks/deliveries`` (the log), ``POST /_sandbox/webhooks/wait``
(until nothing is queued), ``GET``/``PUT /_sandbox/webhooks/settings`` (the rules).
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from fastapi import APIRouter, Body, HTTPException

FAULT_MODES = ("drop", "duplicate", "out_of_order", "late")
LOG_SIZE = 20000


@dataclass
class Rules:
    """How a vendor delivers (read from its webhook settings at every attempt)."""

    timeout: float  # seconds to wait for the receiver's answer
    attempts: int  # attempts per delivery
    quick_tries: int  # tries within one attempt, back to back
    retry_delays: list[float]  # seconds before attempt 2, 3, ... (the last one repeats)
    retried: Callable[[int | None], bool]  # is this outcome (status, None: no answer) worth another try?


@dataclass
class WebhookFault:
    id: int
    mode: str
    count: int | None = None
    ratio: float | None = None
    seed: int = 0
    seconds: float = 5.0
    event: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(init=False, default=None, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"unknown webhook fault mode {self.mode!r}; expected one of {FAULT_MODES}")
        if (self.count is None) == (self.ratio is None):
            raise ValueError("give exactly one of 'count' (next N deliveries) or 'ratio' (0..1)")
        if self.ratio is not None and not 0 <= self.ratio <= 1:
            raise ValueError("'ratio' must lie between 0 and 1")
        if self.seconds < 0:
            raise ValueError("'seconds' must not be negative")
        self._pattern = re.compile(self.event) if self.event else None
        self._random = random.Random(self.seed)

    def fire(self, event_name: str) -> bool:
        if self._pattern is not None and not self._pattern.search(event_name):
            return False
        if self.count is not None:
            if self.fired >= self.count:
                return False
        elif self._random.random() >= (self.ratio or 0):
            return False
        self.fired += 1
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": self.mode,
            "count": self.count,
            "ratio": self.ratio,
            "seed": self.seed,
            "seconds": self.seconds,
            "event": self.event,
            "fired": self.fired,
        }


@dataclass
class Delivery:
    """One event for one subscription."""

    id: int
    tenant: str
    webhook_id: str
    url: str
    event_name: str
    body: dict[str, Any]
    headers: dict[str, str]
    created: float = field(default_factory=time.time)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "queued"  # queued | held | delivered | failed | dropped
    fault: str | None = None
    copy_of: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "event_name": self.event_name,
            "body": self.body,
            "outcome": self.outcome,
            "fault": self.fault,
            "copy_of": self.copy_of,
            "attempts": self.attempts,
            "created_at": datetime.fromtimestamp(self.created, UTC).isoformat(timespec="milliseconds"),
        }


class Deliveries:
    """The outgoing deliveries of one vendor sandbox."""

    def __init__(
        self,
        vendor: str,
        rules: Callable[[], Rules],
        on_done: Callable[[Delivery], None] | None = None,
        workers: int = 8,
    ) -> None:
        self.vendor = vendor
        self.rules = rules
        self.on_done = on_done
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._fault_ids = itertools.count(1)
        self._heap: list[tuple[float, int, Delivery, int]] = []  # (due, seq, delivery, attempt number)
        self._seq = itertools.count()
        self._held: dict[str, list[Delivery]] = {}
        self._busy = 0
        self._generation = 0
        self.faults: list[WebhookFault] = []
        self.log: deque[Delivery] = deque(maxlen=LOG_SIZE)
        self._wake = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{vendor}-webhooks")
        self._session = requests.Session()
        threading.Thread(target=self._scheduler, name=f"{vendor}-webhook-scheduler", daemon=True).start()

    # -- submitting ------------------------------------------------------------------------
    def send(
        self, tenant: str, webhook_id: str, url: str, event_name: str, body: dict[str, Any], headers: dict[str, str]
    ) -> Delivery:
        """Queue one event for one subscription (faults apply here); returns the delivery."""
        with self._lock:
            delivery = Delivery(next(self._ids), tenant, webhook_id, url, event_name, body, headers)
            self.log.append(delivery)
            fault = next((f for f in self.faults if f.fire(event_name)), None)
            now = time.monotonic()
            if fault is None:
                self._push(now, delivery, 1)
            elif fault.mode == "drop":
                delivery.outcome, delivery.fault = "dropped", "drop"
            elif fault.mode == "duplicate":
                delivery.fault = "duplicate"
                twin = Delivery(
                    next(self._ids),
                    tenant,
                    webhook_id,
                    url,
                    event_name,
                    body,
                    headers,
                    fault="duplicate",
                    copy_of=delivery.id,
                )
                self.log.append(twin)
                self._push(now, delivery, 1)
                self._push(now + 0.05, twin, 1)
            elif fault.mode == "late":
                delivery.fault = "late"
                self._push(now + fault.seconds, delivery, 1)
            else:  # out_of_order: held until the next delivery to this webhook went out
                delivery.fault, delivery.outcome = "out_of_order", "held"
                self._held.setdefault(webhook_id, []).append(delivery)
                self._push(now + fault.seconds, delivery, 0)  # 0: release if still held then
            self._wake.notify()
        return delivery

    def _push(self, due: float, delivery: Delivery, attempt: int) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), delivery, attempt))

    # -- sending ---------------------------------------------------------------------------
    def _scheduler(self) -> None:
        while True:
            with self._lock:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic())
                    self._wake.wait(timeout)
                _, _, delivery, attempt = heapq.heappop(self._heap)
                if attempt == 0:  # an out-of-order hold that nothing released
                    if delivery.outcome != "held":
                        continue
                    self._held.get(delivery.webhook_id, []).remove(delivery)
                    attempt = 1
                delivery.outcome = "sending"
                self._busy += 1
                generation = self._generation
            self._pool.submit(self._attempt, delivery, attempt, generation)

    def _attempt(self, delivery: Delivery, attempt: int, generation: int) -> None:
        try:
            rules = self.rules()
            status: int | None = None
            for _ in range(max(1, rules.quick_tries)):
                status, error, ms = self._post(delivery, rules.timeout)
                delivery.attempts.append(
                    {
                        "attempt": attempt,
                        "status": status,
                        "error": error,
                        "ms": ms,
                        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    }
                )
                if status is not None and 200 <= status < 300:
                    break
                if not rules.retried(status):
                    break
            ok = status is not None and 200 <= status < 300
            with self._lock:
                if generation != self._generation:
                    return  # reset meanwhile
                released = self._held.pop(delivery.webhook_id, []) if delivery.fault != "out_of_order" else []
                if released:  # what was held back now goes out after this one
                    self._heap = [e for e in self._heap if not (e[3] == 0 and e[2] in released)]
                    heapq.heapify(self._heap)
                for held in released:
                    held.outcome = "queued"
                    self._push(time.monotonic() + 0.05, held, 1)
                if ok:
                    delivery.outcome = "delivered"
                elif rules.retried(status) and attempt < rules.attempts:
                    delays = rules.retry_delays or [1.0]
                    delay = delays[min(attempt - 1, len(delays) - 1)]
                    delivery.outcome = "retrying"
                    self._push(time.monotonic() + delay, delivery, attempt + 1)
                else:
                    delivery.outcome = "failed"
                self._wake.notify()
            if delivery.outcome in ("delivered", "failed") and self.on_done is not None:
                self.on_done(delivery)
        finally:
            with self._lock:
                self._busy -= 1
                self._wake.notify_all()

    def _post(self, delivery: Delivery, timeout: float) -> tuple[int | None, str | None, float]:
        started = time.monotonic()
        try:
            resp = self._session.post(
                delivery.url, json=delivery.body, headers=delivery.headers, timeout=timeout, allow_redirects=False
            )
            return resp.status_code, None, round((time.monotonic() - started) * 1000, 1)
        except requests.Timeout:
            return None, f"no answer within {timeout:g}s", round((time.monotonic() - started) * 1000, 1)
        except requests.RequestException as exc:
            return None, type(exc).__name__, round((time.monotonic() - started) * 1000, 1)

    # -- admin -----------------------------------------------------------------------------
    def idle(self) -> bool:
        with self._lock:
            return not self._heap and self._busy == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._heap or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.2))
        return True

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._heap.clear()
            self._held.clear()
            self.faults.clear()
            self.log.clear()
            self._wake.notify_all()

    def router(
        self, settings_get: Callable[[], dict[str, Any]], settings_put: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> APIRouter:
        router = APIRouter(prefix="/_sandbox/webhooks", tags=["sandbox webhooks"])

        @router.get("/deliveries")
        def deliveries(tenant: str | None = None, event: str | None = None, since: int = 0) -> dict[str, Any]:
            """Every delivery (newest last): event, subscription, outcome, fault, each attempt."""
            pattern = re.compile(event) if event else None
            with self._lock:
                items = [
                    d.as_dict()
                    for d in self.log
                    if d.id > since
                    and (tenant is None or d.tenant == tenant)
                    and (pattern is None or pattern.search(d.event_name))
                ]
            return {"deliveries": items, "count": len(items)}

        @router.post("/wait")
        def wait(timeout: float = 30.0) -> dict[str, Any]:
            """Return when nothing is queued, held or being sent (or after ``timeout`` seconds)."""
            return {"idle": self.wait_idle(timeout)}

        @router.get("/faults")
        def list_faults() -> dict[str, Any]:
            with self._lock:
                return {"faults": [f.as_dict() for f in self.faults]}

        @router.post("/faults", status_code=201)
        def add_fault(rule: dict[str, Any] = Body(...)) -> dict[str, Any]:
            unknown = set(rule) - {"mode", "count", "ratio", "seed", "seconds", "event"}
            if unknown:
                raise HTTPException(400, f"unknown fault fields: {sorted(unknown)}")
            try:
                fault = WebhookFault(id=next(self._fault_ids), **rule)
            except (TypeError, ValueError, re.error) as exc:
                raise HTTPException(400, str(exc)) from exc
            with self._lock:
                self.faults.append(fault)
            return fault.as_dict()

        @router.delete("/faults")
        def clear_faults() -> dict[str, int]:
            with self._lock:
                n = len(self.faults)
                self.faults.clear()
            return {"cleared": n}

        @router.get("/settings")
        def get_settings() -> dict[str, Any]:
            return settings_get()

        @router.put("/settings")
        def put_settings(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
            try:
                return settings_put(body)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc

        return router


class WebhookSettings:
    """A vendor's webhook switches: defaults, merged updates (validated), reset."""

    def __init__(self, defaults: dict[str, Any], validate: Callable[[dict[str, Any]], None]) -> None:
        self.defaults = dict(defaults)
        self._validate = validate
        self._values = dict(defaults)
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown webhook settings {sorted(unknown)}; known: {sorted(self.defaults)}")
        with self._lock:
            candidate = {**self._values, **changes}
            self._validate(candidate)
            self._values = candidate
            return dict(candidate)

    def reset(self) -> None:
        with self._lock:
            self._values = dict(self.defaults)


def check_delays(value: Any, name: str) -> None:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise ValueError(f"{name!r} must be a non-empty list of seconds")


def check_positive(value: Any, name: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name!r} must be a positive number")
