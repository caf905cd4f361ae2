"""Writing and reading the audit trail.

`record` appends one record inside the caller's transaction, so the record
exists exactly when the operation it describes does. Appends are serialised by
locking the single chain-head row; the head carries the last sequence number
and hash, so an append never scans the table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Insert, Table, Text, bindparam, cast, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

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


def record(session: Session, actor: Actor, event: Event, now: datetime) -> int:
    """Append one record in the caller's transaction; returns its sequence number.

    Three Core statements (lock the head, insert, move the head): no ORM
    objects on this path, which every operation of the service takes.
    """
    return record_many(session, actor, [event], now)[0]


def record_many(session: Session, actor: Actor, events: list[Event], now: datetime) -> list[int]:
    """Append several records in order in the caller's transaction; their sequence numbers.

    Still three statements however many records (a batch job's events):
    the head is locked and moved once.
    """
    if not events:
        return []
    seq, prev_hash = _locked_head(session)
    rows = []
    for event in events:
        seq += 1
        values = _values(seq, actor, event, now)
        hashed = fields_from_values([values[name] for name in HASHED_COLUMNS])
        prev_hash = values["hash"] = chain_hash(prev_hash, canonical_json(hashed))
        rows.append(values)
    insert_records(session.connection(), rows)
    session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=seq, hash=prev_hash))
    session.info.setdefault(APPENDED, []).extend(
        (row["action"], row["outcome"], row["procedure"]) for row in rows
    )
    return [row["seq"] for row in rows]


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


def hashed_fields(row: AuditRecord) -> dict[str, Any]:
    """The exact fields the chain covers, in a JSON-ready form."""
    return fields_from_values([getattr(row, name) for name in HASHED_COLUMNS])


def _locked_head(session: Session) -> tuple[int, bytes]:
    query = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
    head = session.execute(query).first()
    if head is None:
        session.execute(insert(_HEAD).values(id=HEAD_ID, seq=0, hash=GENESIS))
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


def record_alone(deps: Any, actor: Actor, event: Event) -> int:
    """Append one record in a transaction of its own (refusals, after a rollback)."""
    with deps.unit_of_work() as uow:
        seq = record(uow.session, actor, event, deps.now())
        uow.commit()
    return seq
