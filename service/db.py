"""Database engines and the unit of work.

Two databases: the data database (cases, tasks, ciphertext, audit) and the key
store (wrapped data keys), kept apart so that a backup of the data never holds
a usable key. Each use case runs in one `UnitOfWork`: commit is explicit,
rollback is the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Tables of the data database."""

    metadata = MetaData(naming_convention=NAMING)


class KeystoreBase(DeclarativeBase):
    """Tables of the key store, a separate database."""

    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the URL's dialect (SQLite gets WAL and immediate writes)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so a write transaction can take the
        # write lock up front (BEGIN IMMEDIATE): two writers then queue instead
        # of one failing on a stale snapshot.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass
class Database:
    """The two engines and their session factories."""

    engine: Engine
    keystore_engine: Engine

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._keystore_sessions = sessionmaker(self.keystore_engine, expire_on_commit=False)

    @classmethod
    def connect(cls, database_url: str, keystore_url: str) -> Database:
        return cls(make_engine(database_url), make_engine(keystore_url))

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    def dispose(self) -> None:
        self.engine.dispose()
        self.keystore_engine.dispose()


class UnitOfWork:
    """One use case's transaction: `with db.unit_of_work() as uow: ...; uow.commit()`.

    The key store session is opened lazily and committed *before* the data
    session: a data key that outlives a failed data write is harmless, while
    ciphertext whose key was never stored would be lost.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.session: Session
        self._keystore: Session | None = None
        self.after_commit: list[Any] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self.database._sessions()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()
        self.session.close()
        if self._keystore is not None:
            self._keystore.close()

    @property
    def keystore(self) -> Session:
        if self._keystore is None:
            self._keystore = self.database._keystore_sessions()
        return self._keystore

    @property
    def is_postgres(self) -> bool:
        return self.database.is_postgres

    def commit(self) -> None:
        if self._keystore is not None:
            self._keystore.commit()
        self.session.commit()
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self.session.rollback()
        if self._keystore is not None:
            self._keystore.rollback()
        self.after_commit.clear()


@contextmanager
def unit_of_work(database: Database) -> Iterator[UnitOfWork]:
    with database.unit_of_work() as uow:
        yield uow
