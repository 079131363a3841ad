"""Create exactly once: the one mechanism every writer uses (absences, reportings, HQ phases and
tasks, awork projects, task lists and tasks).

Neither HQ nor awork has an idempotency key, so a create whose answer is lost (timeout, dropped
connection, 5xx, a worker killed mid-request) may or may not have happened. The rule:

1. **record pending** (one transaction per batch): the link of every create of the batch is saved
   ``pending`` with the content we are about to send, *before* any of them is sent. A crash after
   this point leaves pending links, never an unrecorded write.
2. **send** (concurrently, ``WritePool``): one POST per create, nothing else. A first create never
   looks anything up, so a first run costs exactly one request per record.
3. **settle** (sequentially, after every send of the batch has finished): a create whose answer was
   lost, or one whose link was already pending from an earlier attempt (``settle_first``), is
   looked up with the writer's matcher (``find``) among the objects no link owns and no create of
   this run claimed: found → adopted, else sent again (at most ``CREATE_ATTEMPTS`` times).
   Settling after the sends means a matcher can never adopt an identical twin another worker has
   just created.
4. **confirm** (one transaction per batch): the links become ``synced`` with the object's id; the
   writer's own bookkeeping (counts, quarantine) runs in the same transaction (``after``).

A refused create (4xx) is a ``CreateResult`` with ``refused``; a system problem (credentials, a server
that keeps failing, an ambiguity that stays ambiguous) is re-raised after the batch's successful
creates were confirmed, so nothing that happened is forgotten.

Writers whose objects carry their own key (HQ phases and tasks by ``SyncId``) pass ``links=None``:
no pending link is needed, the key in HQ is what a later attempt finds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from hq_sync.clients.http import AmbiguousWriteError, ClientError
from hq_sync.load.concurrency import LoadTiming, WritePool
from hq_sync.progress import Progress
from hq_sync.staging import repository as repo
from hq_sync.staging.states import LinkState

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 3


def hq_id_of(obj: dict[str, Any]) -> str:
    """HQ objects: ``Id``."""
    return str(obj["Id"])


def awork_id_of(obj: dict[str, Any]) -> str:
    """awork objects: ``id``."""
    return str(obj["id"])


@dataclass(frozen=True)
class LinkSpec:
    """Where a writer's links live in ``hq_links`` (``hq_entity`` names the kind of object owned)."""

    tenant: str
    source: str
    entity: str
    hq_entity: str
    id_of: Callable[[dict[str, Any]], str] = hq_id_of


@dataclass
class Create:
    """One object to create exactly once.

    ``send`` is the POST (returns the created object); ``find(excluded)`` is the writer's matcher:
    the object this create would have made, among those whose id is not in ``excluded`` (owned by a
    link or claimed by this run), or None. ``before`` (optional, run in the worker right before the
    first send) may return a value to abort the create (e.g. a move whose delete HQ refused)."""

    source_id: str
    written: Any
    send: Callable[[], dict[str, Any]]
    find: Callable[[set[str]], dict[str, Any] | None]
    parent: str | None = None
    settle_first: bool = False  # a pending link from an earlier attempt: look before sending
    pending_hq_id: str | None = None  # recorded with the pending link (e.g. an old object under deletion)
    pending_parent: str | None = None  # the pending link's parent when it differs (the old object's)
    before: Callable[[], Any] | None = None
    label: str = "object"  # for log lines: "reporting", "absence", ...
    context: Any = None  # the writer's own data, handed back with the outcome


@dataclass
class CreateResult:
    """What became of one ``Create`` (not the run-summary ``staging.states.Outcome``)."""

    create: Create
    hq_id: str | None = None
    obj: dict[str, Any] | None = None
    adopted: bool = False
    refused: ClientError | None = None
    aborted: Any = None  # what ``before`` returned
    error: BaseException | None = None  # a system problem
    lost: bool = False  # the send's answer was lost: settle it

    @property
    def ok(self) -> bool:
        return self.hq_id is not None


Effect = Callable[[Connection], None]  # a staging write, run in the chunk's transaction
After = Callable[[Connection, list[CreateResult]], None]  # a writer's bookkeeping of a batch's results


@dataclass
class Chunk:
    """What a loader does for one chunk of records (see ``ExactlyOnce.run_chunk``).

    ``ops`` run concurrently and return the staging ``Effect`` of their result (or None); an op
    may add to ``creates`` (e.g. a reporting deleted in HQ by hand is booked again). ``quick``
    are staging-only effects; ``settle`` run on the loader's thread after the creates."""

    creates: list[Create] = field(default_factory=list)
    ops: list[Callable[[], Effect | None]] = field(default_factory=list)
    quick: list[Effect] = field(default_factory=list)
    settle: list[Callable[[], Effect | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.creates) + len(self.ops) + len(self.quick) + len(self.settle)


@dataclass
class ExactlyOnce:
    """Runs batches of ``Create``s with the rule of the module docstring."""

    staging: Engine
    links: LinkSpec | None
    pool: WritePool = field(default_factory=WritePool)
    timing: LoadTiming = field(default_factory=LoadTiming)
    _claimed: set[str] = field(default_factory=set)
    _owned_by_links: set[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- staging -----------------------------------------------------------------------------
    def _save_links(
        self, conn: Connection, rows: Iterable[tuple[Create, LinkState, str | None]], *, pending: bool = False
    ) -> None:
        spec = self.links
        if spec is None:
            return
        repo.save_links(
            conn,
            [
                {
                    "tenant": spec.tenant,
                    "source": spec.source,
                    "entity": spec.entity,
                    "source_id": c.source_id,
                    "hq_entity": spec.hq_entity,
                    "state": state,
                    "hq_id": hq_id,
                    "written": c.written,
                    "hq_parent_id": (c.pending_parent or c.parent) if pending else c.parent,
                }
                for c, state, hq_id in rows
            ],
        )

    def record_pending(self, creates: Sequence[Create]) -> None:
        """Step 1: every link of the batch ``pending``, in one transaction, before any send."""
        if self.links is None or not creates:
            return
        with self.timing.staging(), self.staging.begin() as conn:
            self._save_links(conn, ((c, LinkState.PENDING, c.pending_hq_id) for c in creates), pending=True)

    def owned(self) -> set[str]:
        """Ids no matcher may adopt: owned by a link, or created/adopted by this run. The links'
        ids are read once per batch (they change only when a batch is confirmed)."""
        if self._owned_by_links is None:
            self._owned_by_links = set()
            if self.links is not None:
                with self.timing.staging(), self.staging.connect() as conn:
                    self._owned_by_links = repo.owned_hq_ids(conn, self.links.tenant, self.links.hq_entity)
        with self._lock:
            return self._owned_by_links | self._claimed

    def claim(self, hq_id: str) -> None:
        with self._lock:
            self._claimed.add(hq_id)

    # -- HQ ----------------------------------------------------------------------------------
    def _id(self, obj: dict[str, Any]) -> str:
        return self.links.id_of(obj) if self.links is not None else hq_id_of(obj)

    def _send_once(self, create: Create) -> CreateResult:
        """Step 2 (in a worker): the plain POST; a lost answer is left for ``_settle``."""
        outcome = CreateResult(create)
        if create.before is not None:
            outcome.aborted = create.before()
            if outcome.aborted is not None:
                return outcome
        if create.settle_first:
            outcome.lost = True
            return outcome
        try:
            obj = create.send()
        except AmbiguousWriteError as exc:
            log.warning(
                "%s %s: create outcome unknown (%s); settled after the batch", create.label, create.source_id, exc
            )
            outcome.lost = True
            return outcome
        except ClientError as exc:
            outcome.refused = exc
            return outcome
        outcome.obj, outcome.hq_id = obj, self._id(obj)
        self.claim(outcome.hq_id)
        return outcome

    def _settle(self, outcome: CreateResult) -> None:
        """Step 3 (main thread): find and adopt, else send again."""
        create = outcome.create
        outcome.lost = False
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            found = create.find(self.owned())
            if found is not None:
                outcome.obj, outcome.hq_id, outcome.adopted = found, self._id(found), True
                self.claim(outcome.hq_id)
                log.info(
                    "%s %s: adopted %s (an earlier create's answer was lost)",
                    create.label,
                    create.source_id,
                    outcome.hq_id,
                )
                return
            try:
                obj = create.send()
            except AmbiguousWriteError as exc:
                log.warning(
                    "%s %s: create outcome unknown (%s); checking again (attempt %d)",
                    create.label,
                    create.source_id,
                    exc,
                    attempt,
                )
                continue
            except ClientError as exc:
                outcome.refused = exc
                return
            outcome.obj, outcome.hq_id = obj, self._id(obj)
            self.claim(outcome.hq_id)
            return
        found = create.find(self.owned())
        if found is not None:
            outcome.obj, outcome.hq_id, outcome.adopted = found, self._id(found), True
            self.claim(outcome.hq_id)
            return
        outcome.error = AmbiguousWriteError(
            f"the create of {create.label} {create.source_id} stayed ambiguous after {CREATE_ATTEMPTS} attempts"
        )

    # -- the batch ---------------------------------------------------------------------------
    def run(self, creates: Sequence[Create], after: After | None = None) -> list[CreateResult]:
        """Record pending → send (concurrently) → settle → confirm (+ ``after``) for one batch.

        Raises the first system problem after the batch's outcomes were confirmed."""
        creates = list(creates)
        if not creates:
            return []
        self._owned_by_links = None
        self.record_pending(creates)
        with self.timing.hq():
            results = self.pool.map(self._send_once, creates)
        outcomes: list[CreateResult] = []
        for create, result in zip(creates, results, strict=True):
            if isinstance(result, BaseException):
                outcomes.append(CreateResult(create, error=result))
            else:
                outcomes.append(result)
        with self.timing.hq():
            for outcome in outcomes:
                if outcome.lost and outcome.error is None:
                    try:
                        self._settle(outcome)
                    except Exception as exc:  # noqa: BLE001 - a system problem: confirm the rest first
                        outcome.error = exc
        self.confirm(outcomes, after)
        self._owned_by_links = None
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
        return outcomes

    def confirm(self, outcomes: list[CreateResult], after: After | None = None) -> None:
        """Step 4: the created/adopted links ``synced``, and the writer's bookkeeping, in one transaction."""
        done = [o for o in outcomes if o.ok]
        if self.links is None and after is None:
            return
        if not done and after is None:
            return
        with self.timing.staging(), self.staging.begin() as conn:
            self._save_links(conn, ((o.create, LinkState.SYNCED, o.hq_id) for o in done))
            if after is not None:
                after(conn, outcomes)

    def run_chunk(self, chunk: Chunk, after: After | None = None) -> None:
        """A loader's chunk: its other writes (updates, deletes) concurrently, their staging effects
        and the staging-only ones in one transaction, then its creates (``run``), then the settle
        steps on this thread (they look for unowned objects: after every send of the chunk)."""
        errors: list[BaseException] = []
        effects = list(chunk.quick)
        if chunk.ops:
            with self.timing.hq():
                results = self.pool.map(lambda op: op(), chunk.ops)
            for result in results:
                if isinstance(result, BaseException):
                    errors.append(result)
                elif result is not None:
                    effects.append(result)
        self._apply(effects)
        if errors:
            raise errors[0]
        self.run(chunk.creates, after)
        effects = []
        self._owned_by_links = None
        for step in chunk.settle:
            with self.timing.hq():
                effect = step()
            if effect is not None:
                effects.append(effect)
        self._apply(effects)

    def run_plan(
        self,
        chunks: Iterable[tuple[list[repo.PlannedRecord], dict[str, repo.Link]]],
        decide: Callable[[Chunk, repo.PlannedRecord, repo.Link | None], None],
        after: After | None,
        progress: Progress,
    ) -> None:
        """A loader's whole load of planned records: ``chunks`` as ``repo.plan_chunks`` reads them
        (lazily, one chunk's plans and their links in memory; reading one counts as staging time),
        each plan ``decide``d with its link into a ``Chunk`` that is then run (``run_chunk``, one
        staging transaction per chunk); the pool is closed at the end."""
        try:
            parts = iter(chunks)
            while True:
                with self.timing.staging():
                    plans, links = next(parts, ([], {}))
                if not plans:
                    break
                chunk = Chunk()
                for plan in plans:
                    decide(chunk, plan, links.get(plan.source_id))
                self.run_chunk(chunk, after)
                progress.advance(len(plans))
        finally:
            self.pool.close()
        progress.finish()

    def _apply(self, effects: list[Effect]) -> None:
        if not effects:
            return
        with self.timing.staging(), self.staging.begin() as conn:
            for effect in effects:
                effect(conn)

    def ensure(self, create: Create, link: repo.Link | None) -> tuple[str, bool]:
        """One create, for writers that need the id at once (e.g. a task list before its tasks).

        ``link``: the record's current link; a synced one is returned as it is, a pending one is
        settled first. Returns (id, created or adopted now); a refusal raises it."""
        if link is not None and link.state is LinkState.SYNCED and link.hq_id:
            return str(link.hq_id), False
        create.settle_first = create.settle_first or link is not None
        [outcome] = self.run([create])
        if outcome.refused is not None:
            raise outcome.refused
        assert outcome.hq_id is not None
        return outcome.hq_id, True
