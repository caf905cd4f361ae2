"""Database engines and the unit of work.

Two databases: the data database (cases, tasks, ciphertext, audit) and the key
store (wrapped data keys), kept apart so that a backup of the data never holds
a usable key. Each use case runs in one `UnitOfWork`: commit is explicit,
rollback is the default.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, exc, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Execution option marking a read-only unit of work's connections.
READ_ONLY = "datasteward_read_only"

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


def with_database(url: str, name: str) -> str:
    """The server URL ``url`` naming database ``name`` instead, all else kept.

    Parsed, not cut at the last slash: a query (``?sslmode=require``, or
    ``?host=/var/run/postgresql`` for a Unix socket) is part of the URL.
    """
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the URL's dialect (SQLite gets WAL and immediate writes)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_size", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# A pooled connection used within this many seconds is handed out unchecked.
PING_AFTER_IDLE_S = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for connections that sat idle in the pool.

    A ping is a round trip; pinging on every checkout cost one per unit of
    work (3 per HTTP request: credentials, training gate, use case), about
    4 % of a case on PostgreSQL. A dead server or a dropped connection shows
    up on connections that waited, which are still checked, and a failed
    ping makes the pool replace the connection (and every older one).
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in_at", 0.0) <= PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except Exception as error:  # any failure: the pool retries with a new connection
            raise exc.DisconnectionError(str(error)) from error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
    lock_file = f"{path}.writer-lock" if path and path != ":memory:" else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
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
        if lock_file:
            record.info["writer_lock"] = WriterLock(lock_file)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-only unit of work (READ_ONLY) takes no write lock: in WAL mode
        # it neither waits for the writer nor makes the writer wait.
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        lock = conn.connection.info.get("writer_lock")
        if lock is not None:
            lock.acquire()
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        # Fired just before the commit itself: a writer let in now finds the
        # SQLite lock free within the commit's time (SQLite's first retry is 1 ms).
        lock = conn.connection.info.get("writer_lock")
        if lock is not None:
            lock.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        lock = record.info.get("writer_lock") if record is not None else None
        if lock is not None:
            lock.release()

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        lock = record.info.pop("writer_lock", None) if record is not None else None
        if lock is not None:
            lock.close()

    return engine


class WriterLock:
    """Writers of one SQLite file queue on a file lock before BEGIN IMMEDIATE.

    SQLite's own busy handler makes a waiting writer sleep in growing steps
    (up to 100 ms) whatever the holder does, so under a few concurrent
    writers the tail latency was mostly sleeping. A waiter here polls every
    millisecond and starts as soon as the holder commits or rolls back.
    Held per connection, released at the end of its transaction (and at the
    latest when it goes back to the pool); the kernel drops it if the process
    dies. After
    ``timeout`` seconds it gives up and lets SQLite's busy handler decide.
    """

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.timeout = timeout
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.001)
                continue
            self.held = True
            return

    def release(self) -> None:
        if self.held:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.release()
        os.close(self.fd)


def _read_only_engine(engine: Engine) -> Engine:
    """Where read-only units of work run.

    SQLite: the same engine, its transactions begun without the write lock.
    PostgreSQL: a pool of autocommit, read-only sessions, so a lookup (a
    request's credentials) is one round trip instead of BEGIN, the query and
    a ROLLBACK; READ COMMITTED gave each statement its own snapshot anyway.
    """
    if engine.dialect.name != "postgresql":
        return engine.execution_options(**{READ_ONLY: True})
    return make_engine(
        engine.url.render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c default_transaction_read_only=on"},
    )


@dataclass
class Database:
    """The two engines and their session factories."""

    engine: Engine
    keystore_engine: Engine

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = _read_only_engine(self.engine)
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._keystore_sessions = sessionmaker(self.keystore_engine, expire_on_commit=False)

    @classmethod
    def connect(cls, database_url: str, keystore_url: str) -> Database:
        return cls(make_engine(database_url), make_engine(keystore_url))

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    def read_unit_of_work(self) -> UnitOfWork:
        """A unit of work that only reads (a request's credentials, a list).

        On SQLite it begins a deferred transaction, so it never queues behind
        (or holds up) a writer; on PostgreSQL it is an ordinary transaction.
        It writes nothing: on SQLite its commit rolls back, on PostgreSQL the
        session is read-only and refuses a write.
        """
        return UnitOfWork(self, read_only=True)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.is_postgres:  # its own pool (on SQLite it shares the engine's)
            self._read_engine.dispose()
        self.keystore_engine.dispose()


class UnitOfWork:
    """One use case's transaction: `with db.unit_of_work() as uow: ...; uow.commit()`.

    The key store session is opened lazily and committed *before* the data
    session: a data key that outlives a failed data write is harmless, while
    ciphertext whose key was never stored would be lost.
    """

    def __init__(self, database: Database, *, read_only: bool = False) -> None:
        self.database = database
        self.read_only = read_only
        self.session: Session
        self._keystore: Session | None = None
        self.after_commit: list[Any] = []

    def __enter__(self) -> UnitOfWork:
        sessions = self.database._read_sessions if self.read_only else self.database._sessions
        self.session = sessions()
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
        if self.read_only:
            self.rollback()
            return
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
