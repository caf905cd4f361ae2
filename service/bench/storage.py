"""Database size, and bulk copies of real cases to grow the database quickly.

Running 100,000 cases through the service would take the better part of an
hour, so the bench runs one case for real and bulk-inserts copies of every row
it wrote (case, tasks, audit records re-chained with correct hashes, subject,
ciphertext, blind index, wrapped key) under fresh ids. The copies are what the
service itself would have left behind, so indexes and table sizes are real;
each copy's blind-index digests are its own, as another person's would be.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select, text

import service.models  # noqa: F401 - every table registered on the metadata
from service.audit.chain import canonical_json, chain_hash
from service.audit.log import HASHED_COLUMNS, fields_from_values
from service.audit.service import HEAD_ID, insert_records
from service.db import Base, KeystoreBase
from service.deps import Deps

BATCH = 2_000


def database_bytes(deps: Deps) -> int:
    """Bytes both databases take: relation sizes on PostgreSQL, file sizes on SQLite."""
    return sum(_engine_bytes(engine) for engine in (deps.db.engine, deps.db.keystore_engine))


def _engine_bytes(engine: Engine) -> int:
    if engine.dialect.name == "postgresql":
        return _postgres_bytes(engine)
    _outside_transaction(engine, "PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(str(engine.url.database))
    return path.stat().st_size if path.exists() else 0


def _postgres_bytes(engine: Engine) -> int:
    # VACUUM first: dead row versions of updated cases are reused space, not growth.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM")
        total = conn.execute(
            text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = 'public'"
            )
        ).scalar_one()
    return int(total)


def _tables() -> dict[str, Table]:
    return {**Base.metadata.tables, **KeystoreBase.metadata.tables}


class CaseCopier:
    """Copies one template case's rows `n` times, in batches."""

    def __init__(self, deps: Deps, case_id: str) -> None:
        self.deps = deps
        tables = _tables()
        self.t = tables
        with deps.db.engine.connect() as conn:
            self.case = dict(
                conn.execute(select(tables["cases"]).where(tables["cases"].c.id == case_id))
                .mappings()
                .one()
            )
            subject = self.case["subject"]
            self.tasks = _rows(conn, tables["tasks"], tables["tasks"].c.case_id == case_id)
            audit = tables["audit_records"]
            self.audit = _rows(conn, audit, audit.c.case_id == case_id, audit.c.seq)
            self.subjects = _rows(
                conn, tables["subjects"], tables["subjects"].c.pseudonym == subject
            )
            self.fields = _rows(
                conn, tables["subject_fields"], tables["subject_fields"].c.subject == subject
            )
            self.index = _rows(
                conn, tables["blind_index"], tables["blind_index"].c.subject == subject
            )
        with deps.db.keystore_engine.connect() as conn:
            keys = tables["data_keys"]
            self.keys = _rows(conn, keys, keys.c.subject == subject)

    def copy(self, n: int) -> None:
        done = 0
        while done < n:
            size = min(BATCH, n - done)
            self._copy_batch(size)
            done += size
        _analyze(self.deps.db.engine)

    def _copy_batch(self, size: int) -> None:
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.t}
        for _ in range(size):
            self._one_copy(rows)
        with self.deps.db.keystore_engine.begin() as conn:
            if rows["data_keys"]:
                conn.execute(self.t["data_keys"].insert(), rows["data_keys"])
        with self.deps.db.engine.begin() as conn:
            self._chain(conn, rows["audit_records"])
            for name in ("subjects", "subject_fields", "blind_index", "cases", "tasks"):
                if rows[name]:
                    conn.execute(self.t[name].insert(), rows[name])
            insert_records(conn, rows["audit_records"])

    def _one_copy(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        ids = {self.case["id"]: str(uuid.uuid4())}
        ids.update({t["id"]: str(uuid.uuid4()) for t in self.tasks})
        subject = self.case["subject"]
        if subject:
            ids[subject] = "sub_" + uuid.uuid4().hex
        state = self.case["state"]
        for old, new in ids.items():
            state = state.replace(old, new)
        rows["cases"].append(
            {**self.case, "id": ids[self.case["id"]], "subject": ids.get(subject), "state": state}
        )
        for t in self.tasks:
            rows["tasks"].append({**t, "id": ids[t["id"]], "case_id": ids[t["case_id"]]})
        for r in self.audit:
            rows["audit_records"].append(
                {
                    **r,
                    "case_id": ids[r["case_id"]],
                    "task_id": ids.get(r["task_id"]),
                    "subject": ids.get(r["subject"]),
                }
            )
        for name, source, column in (
            ("subjects", self.subjects, "pseudonym"),
            ("subject_fields", self.fields, "subject"),
            ("data_keys", self.keys, "subject"),
        ):
            rows[name].extend({**row, column: ids[subject]} for row in source)
        # Each copy is another person: a digest of its own (an HMAC's worth of random hex),
        # as the service would have left behind, never 100,000 records of the same person.
        rows["blind_index"].extend(
            {**row, "subject": ids[subject], "digest": secrets.token_hex(32)} for row in self.index
        )

    def _chain(self, conn: Any, records: list[dict[str, Any]]) -> None:
        """Give the copied audit records the next sequence numbers and a valid chain."""
        head = self.t["audit_head"]
        seq, prev = conn.execute(
            select(head.c.seq, head.c.hash).where(head.c.id == HEAD_ID).with_for_update()
        ).one()
        for record in records:
            seq += 1
            record["seq"] = seq
            prev = record["hash"] = chain_hash(
                prev, canonical_json(fields_from_values([record[c] for c in HASHED_COLUMNS]))
            )
        conn.execute(head.update().where(head.c.id == HEAD_ID).values(seq=seq, hash=prev))


def _rows(conn: Any, table: Table, where: Any, order: Any = None) -> list[dict[str, Any]]:
    query = select(table).where(where)
    if order is not None:
        query = query.order_by(order)
    return [dict(row) for row in conn.execute(query).mappings()]


def _analyze(engine: Engine) -> None:
    """Fresh planner statistics, as autovacuum keeps them on a database that grew gradually.

    Right after a bulk load PostgreSQL still believes the tables are empty and
    picks plans for empty tables (a full sort of the task list instead of
    reading the queue index in order).
    """
    if engine.dialect.name != "postgresql":
        _outside_transaction(engine, "ANALYZE")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


def _outside_transaction(engine: Engine, statement: str) -> None:
    # SQLite: the engine's begin hook would wrap this in BEGIN IMMEDIATE, and a
    # checkpoint cannot run inside a transaction; the raw connection is in autocommit.
    raw = engine.raw_connection()
    try:
        raw.cursor().execute(statement)
    finally:
        raw.close()
