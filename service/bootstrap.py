"""Building a process's collaborators from settings (web app, worker and CLI alike)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from service.cases.deadlines import load_calendar
from service.config import Settings
from service.connectors import build_registry
from service.db import Database
from service.deps import Deps
from service.engine import Engine
from service.jobs import Publisher
from service.vault.keys import load_vault_keys


class NotMigrated(RuntimeError):
    """The database schema is missing or older than this code."""


def build_deps(
    settings: Settings, *, publish: Publisher | None = None, create_keys: bool = False
) -> Deps:
    database = Database.connect(settings.database_url, settings.keystore_url)
    return Deps(
        settings=settings,
        db=database,
        engine=Engine(connectors=build_registry()),
        keys=load_vault_keys(settings, create=create_keys),
        publish=publish,
        calendar=load_calendar(Path(settings.calendar_dir)),
    )


def check_migrated(database: Database) -> None:
    """Refuse to run on a database that `datasteward init` has not brought to head."""
    from service.migrations import head_revisions

    fix = "run `datasteward init` (or `datasteward migrate`) to create or upgrade it"
    with database.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            raise NotMigrated(f"the database at {database.engine.url!r} is not migrated; {fix}")
        current = frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if current != head_revisions():
        raise NotMigrated(
            f"the database is at revision {sorted(current)}, this code needs "
            f"{sorted(head_revisions())}; {fix}"
        )
