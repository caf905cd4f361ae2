"""A scratch database for one benchmark run: a temp dir (SQLite) or a fresh PostgreSQL database.

The bench never touches the operator's own databases: everything it measures
is set up here and thrown away afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from service.access.service import Actor, create_user
from service.config import Settings
from service.db import with_database
from service.deps import Deps

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-password-not-secret"  # noqa: S105 - scratch users, dropped after the run


@dataclass
class Scratch:
    """Settings pointing at the scratch databases, and how to remove them."""

    settings: Settings
    kind: str  # "sqlite" or "postgresql"
    var_dir: Path
    _admin_url: str = ""
    _names: tuple[str, ...] = ()

    def drop(self) -> None:
        if self._admin_url:
            admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                for name in self._names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(self.var_dir, ignore_errors=True)


def create_scratch(database: str, base: Settings) -> Scratch:
    """Empty, migrated databases with the shipped procedures installed."""
    var_dir = Path(tempfile.mkdtemp(prefix="datasteward-bench-"))
    processes = base.processes_dir if Path(base.processes_dir).is_dir() else ROOT / "processes"
    settings = Settings(var_dir=str(var_dir), processes_dir=str(processes))
    if database == "sqlite":
        scratch = Scratch(settings.resolved(), "sqlite", var_dir)
    else:
        scratch = _postgres_scratch(database, settings, var_dir)
    try:
        _initialise(scratch.settings)
    except BaseException:
        scratch.drop()  # a run that cannot start leaves no databases behind
        raise
    return scratch


def _postgres_scratch(url: str, settings: Settings, var_dir: Path) -> Scratch:
    if not url.startswith("postgresql"):
        raise ValueError("--database takes 'sqlite' or a postgresql:// URL")
    run = f"ds_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = (run, f"{run}_keys")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    resolved = replace(
        settings,
        database_url=with_database(url, names[0]),
        keystore_url=with_database(url, names[1]),
    ).resolved()
    return Scratch(resolved, "postgresql", var_dir, url, names)


def _initialise(settings: Settings) -> None:
    """Exactly what `datasteward init` does, its chatter sent to stderr."""
    from service.cli import cmd_init

    with contextlib.redirect_stdout(sys.stderr):
        cmd_init(argparse.Namespace(demo=False), settings)


def create_actors(deps: Deps, prefix: str, roles: list[str], count: int) -> list[Actor]:
    """`count` users holding `roles`, as the actors the use cases receive."""
    actors = []
    with deps.unit_of_work() as uow:
        for n in range(count):
            username = f"{prefix}{n}"
            user_id = create_user(
                uow.session,
                username=username,
                password=PASSWORD,
                display_name=username,
                roles=roles,
                now=deps.now(),
                trained_until=deps.now() + timedelta(days=365),
            )
            actors.append(Actor(user_id, username, frozenset(roles)))
        uow.commit()
    return actors
