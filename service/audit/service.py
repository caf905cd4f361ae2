"""Writing and reading the audit trail.

`record` adds one record to the caller's transaction, so the record exists
exactly when the operation it describes does: the transaction's records are
appended just before it commits (a rollback drops them). Appends are
serialised by locking the single chain-head row, taken only at that moment
(by the append, or by a case step's last write, which reads it in the same
statement: `service.cases.writes`); the head carries the last sequence number
and hash, so an append never scans the table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Insert, Table, Text, Update, bindparam, cast, insert, select, update
from sqlalchemy import event as orm_events
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from service.access.service import Actor
from service.audit.chain import GENESIS, canonical_json, canonical_text, chain_hash
from service.audit.log import HASHED_COLUMNS, fields_from_values
from service.audit.models import AuditHead, AuditRecord
from service.errors import Forbidden

HEAD_ID = 1
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
_RECORDS: Table = AuditRecord.__table__  # type: ignore[assignment]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Event:
    """What happened; everything but who and when."""

    action: str
    outcome: str = "done"
    reason: str | None = None
    procedure: str | None = None
    version_hash: str | None = None
    case_id: str | None = None
    task_id: str | None = None
    subject: str | None = None
    fields: list[str] | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    detail: dict[str, Any] | None = field(default=None)
    detail_enc: bytes | None = None


# Key of the session's list of (action, outcome, procedure) appended in its open
# transaction; read by whoever counts committed operations (the metrics).
APPENDED = "audit.appended"
# Key of the session's records made but not yet appended: (actor, event, when).
PENDING = "audit.pending"
# Key of the chain head (seq, hash) a statement of the open transaction locked and read.
HEAD_READ = "audit.head_read"


def record(session: Session, actor: Actor, event: Event, now: datetime) -> None:
    """Add one record to the caller's transaction: it is appended as that transaction commits.

    The record exists exactly when the operation it describes does: it is
    written in the same transaction, just before its COMMIT, or not at all.
    """
    record_many(session, actor, [event], now)


def record_many(session: Session, actor: Actor, events: list[Event], now: datetime) -> None:
    """Add several records, in order, to the caller's transaction (see `record`)."""
    if events:
        session.info.setdefault(PENDING, []).extend((actor, event, now) for event in events)


def _append_pending(session: Session) -> None:
    """Append the transaction's records, in the order they were made, just before it commits.

    Three Core statements however many records the transaction made: lock
    the chain head, insert the records, move the head (one statement for the
    last two on PostgreSQL, for the few records an operation makes; none for
    the first when the transaction's last write read the head, `head_read`).
    Deferred to the commit, the head -- which every writer of the service
    takes -- is held only from here to the COMMIT, not across the
    operation's own work.
    """
    pending = session.info.pop(PENDING, None)
    already = session.info.pop(HEAD_READ, None)
    if not pending:
        return
    seq, prev_hash = already or _locked_head(session)
    rows = []
    for actor, made, now in pending:
        seq += 1
        values = _values(seq, actor, made, now)
        hashed = fields_from_values([values[name] for name in HASHED_COLUMNS])
        prev_hash = values["hash"] = chain_hash(prev_hash, canonical_json(hashed))
        rows.append(values)
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(rows) <= _ONE_STATEMENT_MOST:
        connection.execute(_append_and_move_head(len(rows)), _flat_parameters(rows, seq, prev_hash))
    else:
        insert_records(connection, rows)
        connection.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash})
    session.info.setdefault(APPENDED, []).extend(
        (row["action"], row["outcome"], row["procedure"]) for row in rows
    )


def _drop_pending(session: Session, _previous: SessionTransaction) -> None:
    # The service opens no nested transactions: any rollback ends the one that made them.
    session.info.pop(PENDING, None)
    session.info.pop(HEAD_READ, None)


def head_read(session: Session, seq: int, hash_: bytes) -> None:
    """The open transaction has locked the chain head and read it (one statement of its own).

    Its append then starts from these instead of locking the head again. The
    caller must write nothing before the COMMIT but the append (see
    `service.cases.writes`).
    """
    session.info[HEAD_READ] = (seq, hash_)


orm_events.listen(Session, "before_commit", _append_pending)
orm_events.listen(Session, "after_soft_rollback", _drop_pending)


def _values(seq: int, actor: Actor, event: Event, now: datetime) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": now,
        "actor_id": actor.id or None,
        "actor": actor.username,
        "role": actor.primary_role,
        "request_id": actor.request_id,
        "client_addr": actor.client_addr,
        "action": event.action,
        "outcome": event.outcome,
        "reason": event.reason,
        "procedure": event.procedure,
        "version_hash": event.version_hash,
        "case_id": event.case_id,
        "task_id": event.task_id,
        "subject": event.subject,
        "fields": event.fields,
        "purpose": event.purpose,
        "legal_basis": event.legal_basis,
        "detail": event.detail,
        "detail_enc": event.detail_enc,
    }


_JSON_COLUMNS = ("fields", "detail")
_INSERTS: dict[str, Insert] = {}


def insert_records(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert audit rows with their JSON columns stored as canonical JSON text.

    Stored canonically, a JSON column reads back as exactly the bytes the
    record hashed, so verification on PostgreSQL can let the server render
    each record (`service.audit.stream`) instead of re-encoding it here.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    statement = _INSERTS.get(dialect)
    if statement is None:
        statement = _INSERTS[dialect] = _insert_statement(dialect)
    connection.execute(statement, [_with_json_text(row) for row in rows])


def _insert_statement(dialect: str) -> Insert:
    # SQLite keeps JSON as text already; PostgreSQL keeps a json value's text verbatim.
    def text_of(name: str) -> Any:
        parameter = bindparam(f"{name}_json", type_=Text)
        return cast(parameter, JSON) if dialect == "postgresql" else parameter

    return insert(_RECORDS).values({name: text_of(name) for name in _JSON_COLUMNS})


def _with_json_text(row: dict[str, Any]) -> dict[str, Any]:
    values = {key: value for key, value in row.items() if key not in _JSON_COLUMNS}
    for name in _JSON_COLUMNS:
        values[f"{name}_json"] = canonical_text(row.get(name))
    return values


_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID)
_RECORD_COLUMNS = [column.key for column in _RECORDS.columns]
_APPENDS: dict[int, Update] = {}
# An operation makes one to a few records; a batch job's many go by the bulk INSERT.
_ONE_STATEMENT_MOST = 8


def _append_and_move_head(count: int) -> Update:
    """PostgreSQL: insert ``count`` records and move the head in one statement.

    The INSERT is a data-modifying CTE of the head's UPDATE, so the pair
    costs one round trip; built once per record count (one to a few).
    """
    statement = _APPENDS.get(count)
    if statement is None:
        # One single-row INSERT per record: a multi-row VALUES is not cacheable.
        appended = [
            insert(_RECORDS)
            .values({name: _bound(f"r{index}_{name}", name) for name in _RECORD_COLUMNS})
            .cte(f"appended_{index}")
            for index in range(count)
        ]
        moved = _MOVE_HEAD.values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
        statement = _APPENDS[count] = moved.add_cte(*appended)
    return statement


def _bound(name: str, column: str) -> Any:
    if column in _JSON_COLUMNS:
        return cast(bindparam(name, type_=Text), JSON)
    return bindparam(name, type_=_RECORDS.c[column].type)


def _flat_parameters(rows: list[dict[str, Any]], seq: int, head_hash: bytes) -> dict[str, Any]:
    parameters: dict[str, Any] = {"head_seq": seq, "head_hash": head_hash}
    for index, row in enumerate(rows):
        for name in _RECORD_COLUMNS:
            value = row.get(name)
            if name in _JSON_COLUMNS:
                value = canonical_text(value)
            parameters[f"r{index}_{name}"] = value
    return parameters


def hashed_fields(row: AuditRecord) -> dict[str, Any]:
    """The exact fields the chain covers, in a JSON-ready form."""
    return fields_from_values([getattr(row, name) for name in HASHED_COLUMNS])


_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()


def _locked_head(session: Session) -> tuple[int, bytes]:
    connection = session.connection()
    head = connection.execute(_LOCK_HEAD).first()
    if head is None:
        connection.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS))
        return 0, GENESIS
    return head[0], bytes(head[1])


def case_history(session: Session, case_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditRecord).where(AuditRecord.case_id == case_id).order_by(AuditRecord.seq)
    )
    return [
        {
            "seq": r.seq,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "outcome": r.outcome,
            "reason": r.reason,
            "task_id": r.task_id,
            "fields": r.fields,
        }
        for r in rows
    ]


class Refusal(Forbidden):
    """A 403 whose audit record is written once the refused transaction has rolled back."""

    def __init__(self, reason: str, event: Event) -> None:
        super().__init__(reason)
        self.event = event


def records_refusals(use_case: F) -> F:
    """Wrap a use case ``(deps, actor, ...)`` so each `Refusal` it raises is audited.

    The record goes in its own transaction after the use case's own has been
    rolled back, so the refusal is kept while nothing of the operation is.
    """

    @functools.wraps(use_case)
    def wrapper(deps: Any, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        try:
            return use_case(deps, actor, *args, **kwargs)
        except Refusal as refusal:
            record_alone(deps, actor, refusal.event)
            raise

    return wrapper  # type: ignore[return-value]


def record_alone(deps: Any, actor: Actor, event: Event) -> None:
    """Append one record in a transaction of its own (refusals, after a rollback)."""
    with deps.unit_of_work() as uow:
        record(uow.session, actor, event, deps.now())
        uow.commit()
