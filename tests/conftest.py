"""Shared fixtures: the sandbox servers (real HTTP) and the staging databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

# Airflow reads its home at import time: give the test session its own, never the developer's.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="hq-sync-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# dag.test() syncs the DAG bundle of the dags folder, which Airflow fixes when it is first imported.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")

import pytest  # noqa: E402

from sandboxes.testing import SandboxServers  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


# -- Parallel runs (pytest-xdist: `make test` runs two workers with --dist loadgroup) ---------------
# Every test runs in its worker's own process: its own AIRFLOW_HOME (above), its own sandbox servers
# on free ports, temp dirs, its own PostgreSQL schema (postgres_schema_url), its own Redis keys (the
# Celery cluster claims an empty Redis db and random database names). Two kinds of tests are kept
# together or alone:
# - tests of one ``xdist_group`` run on one worker, in file order: the tests of the shared Airflow
#   (fixture ``airflow_world``, grouped here), so that one worker starts it once (it is stopped
#   after the last of them: pytest_runtest_teardown below), and the Celery cluster's module;
# - tests marked ``serial`` (time budgets, the Celery cluster) run alone: while one runs, the other
#   worker waits before its next test (_SerialLock).
# xdist 3.8 cannot group under pytest 9 (it renames node ids, which pytest 9 no longer allows):
# the workers write each test's group to a file and the controller's scheduler reads it
# (pytest_xdist_make_scheduler). Work is handed out in collection order (--no-loadscope-reorder):
# the shared Airflow's group first, the Celery cluster last (_run_order).
AIRFLOW_WORLD_GROUP = "airflow_world"
_SHARED_DIR_KEY = "hq_sync_xdist_dir"


def _uses_airflow_world(item: pytest.Item | None) -> bool:
    return item is not None and "airflow_world" in getattr(item, "fixturenames", ())


def _group_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def _run_order(item: pytest.Item) -> int:
    """The shared Airflow's tests first (their group is the longest piece of work, on one worker
    while the other does the rest), a serial group (the Celery cluster) last, when that Airflow
    is stopped and the other worker is finishing its last tests."""
    if _uses_airflow_world(item):
        return 0
    if item.get_closest_marker("serial") is not None and _group_of(item) is not None:
        return 2
    return 1


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_airflow_world(item):
            item.add_marker(pytest.mark.xdist_group(AIRFLOW_WORLD_GROUP))
    items.sort(key=_run_order)  # stable: file order within each part
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and _SHARED_DIR_KEY in workerinput:
        groups = {item.nodeid: group for item in items if (group := _group_of(item))}
        target = Path(workerinput[_SHARED_DIR_KEY]) / f"groups-{workerinput['workerid']}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        os.replace(tmp, target)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller: a directory shared with the workers (groups, the serial lock)."""
    config = node.config
    if not hasattr(config, "_hq_sync_xdist_dir"):
        config._hq_sync_xdist_dir = tempfile.mkdtemp(prefix="hq-sync-xdist-")
    node.workerinput[_SHARED_DIR_KEY] = config._hq_sync_xdist_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = getattr(config, "_hq_sync_xdist_dir", None)
    if shared:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups the workers wrote (see above)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class MarkedGroupScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                shared = getattr(config, "_hq_sync_xdist_dir", None)
                for path in Path(shared).glob("groups-*.json") if shared else []:
                    self.groups.update(json.loads(path.read_text()))
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return MarkedGroupScheduling(config, log)


class _SerialLock:
    """Serial tests run alone across the xdist workers of one run: a reader-writer lock on two
    files. Every other test holds ``main`` shared; a serial test holds it exclusively, and holds
    ``gate`` while it waits and runs, so no new test starts meanwhile (no starving the serial one)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.gate = os.open(directory / "gate.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.main = os.open(directory / "main.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self.alone = False

    def before(self, serial: bool) -> None:
        if self.alone:
            return  # still alone from the serial test before this one
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        if serial:
            fcntl.flock(self.main, fcntl.LOCK_EX)
            self.alone = True
        else:
            fcntl.flock(self.main, fcntl.LOCK_SH)
            fcntl.flock(self.gate, fcntl.LOCK_UN)

    def after(self, stay_alone: bool) -> None:
        if self.alone and stay_alone:
            return
        fcntl.flock(self.main, fcntl.LOCK_UN)
        if self.alone:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
            self.alone = False


_SERIAL_LOCK: _SerialLock | None = None


def _is_serial(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker("serial") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    global _SERIAL_LOCK
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None or _SHARED_DIR_KEY not in workerinput:  # not under xdist: one test at a time anyway
        yield
        return
    if _SERIAL_LOCK is None:
        _SERIAL_LOCK = _SerialLock(Path(workerinput[_SHARED_DIR_KEY]))
    serial = _is_serial(item)
    _SERIAL_LOCK.before(serial)
    try:
        yield
    finally:
        # Consecutive serial tests (one module, e.g. the Celery cluster's) stay alone in between.
        _SERIAL_LOCK.after(stay_alone=serial and _is_serial(nextitem))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared Airflow (tests/ops/harness.py) stops after the last test that uses it, instead of
    idling on the cores until the session ends (a later test that needs it starts it again)."""
    if _uses_airflow_world(item) and not _uses_airflow_world(nextitem):
        harness = sys.modules.get("tests.ops.harness")
        if harness is not None:
            harness.stop_shared_world()


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness = sys.modules.get("tests.ops.harness")
    if harness is not None:
        harness.stop_shared_world()


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServers]:
    """The three sandbox APIs in a subprocess, shared by the session; reset them per test."""
    with SandboxServers(tmp_path_factory.mktemp("sandboxes")) as servers:
        yield servers


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (SQLite in the session's AIRFLOW_HOME): dag.test(), connections."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def fresh_sandboxes(sandboxes: SandboxServers) -> SandboxServers:
    """The shared sandboxes, emptied (data, request log, faults, rate limits) for this test."""
    sandboxes.reset()
    return sandboxes


# -- Staging databases ------------------------------------------------------------------------------
POSTGRES_URL = os.environ.get(
    "HQ_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _postgres_unavailable_reason() -> str | None:
    """None when the test PostgreSQL answers, else why the PostgreSQL tests are skipped."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL at {POSTGRES_URL} does not answer ({first_line}); set HQ_SYNC_TEST_POSTGRES_URL"
    return None


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the session."""
    import uuid

    import sqlalchemy as sa

    reason = _postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"hq_sync_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def staging_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A migrated staging database: SQLite in a temp dir, and PostgreSQL when it answers.

    The PostgreSQL variant truncates every staging table before the test, so tests never see each
    other's rows.
    """
    import sqlalchemy as sa

    from hq_sync.staging import create_staging_engine, upgrade
    from hq_sync.staging.schema import metadata

    if request.param == "sqlite":
        engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
        upgrade(engine)
    else:
        engine = create_staging_engine(request.getfixturevalue("postgres_schema_url"))
        upgrade(engine)
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
    try:
        yield engine
    finally:
        engine.dispose()
