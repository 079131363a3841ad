"""Create or upgrade the staging schema with Alembic (``python -m hq_sync.staging.migrate``)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_upgraded: set[str] = set()
_lock = threading.Lock()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the staging schema to ``revision`` (idempotent; safe to call from every task)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """``upgrade()`` once per process and database URL (cheap for every later call)."""
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        if key in _upgraded:
            return
        upgrade(engine)
        _upgraded.add(key)


def main(argv: list[str] | None = None) -> int:
    from hq_sync.staging.engine import create_staging_engine, resolve_staging_url

    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else resolve_staging_url()
    engine = create_staging_engine(url)
    upgrade(engine)
    print(f"staging schema at head: {engine.url.render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
