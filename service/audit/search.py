"""Search and export of the audit trail, for compliance and auditors.

The change log (procedure 3.3) and the query log (4.3) are not tables of
their own: they are this search with ``log=changes`` or ``log=queries``.
Looking at the trail is itself recorded (``audit.search``, ``audit.export``).
Records hold no personal data values; ``detail_enc`` is vault ciphertext and
is reported only as present or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select

from service.access.service import Actor
from service.audit import merkle
from service.audit.checkpoints import checkpoint_view, latest_checkpoint, require_audit_reader
from service.audit.log import HASHED_COLUMNS, iso_at, iter_entries, leaves_upto, stored_hashes
from service.audit.models import AuditRecord
from service.audit.service import Event, record
from service.cases.models import CASE_REFERENCE, starting_with
from service.deps import Deps
from service.errors import Invalid, NotFound

LOGS = ("all", "changes", "queries")


@dataclass(frozen=True)
class AuditQuery:
    subject: str | None = None
    actor: str | None = None
    action: str | None = None
    procedure: str | None = None
    case_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    log: str = "all"
    after_seq: int = 0
    limit: int = 100

    def filters(self) -> dict[str, Any]:
        given = {k: v for k, v in self.__dict__.items() if v not in (None, "all")}
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in given.items()}


def search_records(deps: Deps, actor: Actor, query: AuditQuery) -> dict[str, Any]:
    """One page of matching records in seq order; ``next_after`` continues the listing."""
    require_audit_reader(actor)
    with deps.unit_of_work() as uow:
        statement = _where(select(AuditRecord), query).order_by(AuditRecord.seq)
        rows = uow.session.scalars(statement.limit(query.limit + 1)).all()
        page = [record_view(row) for row in rows[: query.limit]]
        record(
            uow.session,
            actor,
            Event("audit.search", detail={"filters": query.filters()}),
            deps.now(),
        )
        uow.commit()
    more = len(rows) > query.limit
    return {"records": page, "next_after": page[-1]["seq"] if more and page else None}


def _where(statement: Select[Any], query: AuditQuery) -> Select[Any]:
    columns = {
        "subject": AuditRecord.subject,
        "actor": AuditRecord.actor,
        "action": AuditRecord.action,
        "procedure": AuditRecord.procedure,
        "case_id": AuditRecord.case_id,
        "outcome": AuditRecord.outcome,
    }
    for name, column in columns.items():
        value = getattr(query, name)
        if name == "case_id" and value is not None and CASE_REFERENCE.fullmatch(value.lower()):
            # The reference customers and pages quote, as a range over the index on case_id.
            statement = statement.where(*starting_with(column, value.lower()))
        elif value is not None:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(AuditRecord.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditRecord.at < query.until)
    return _log_view(statement.where(AuditRecord.seq > query.after_seq), query.log)


def _log_view(statement: Select[Any], log: str) -> Select[Any]:
    if log == "changes":
        # Subject data written, corrected or deleted (3.3's change log).
        return statement.where(
            AuditRecord.action.like("subject.%"), AuditRecord.action != "subject.read"
        )
    if log == "queries":
        # Subject data provided to someone (4.3's query log).
        return statement.where(
            or_(AuditRecord.action == "subject.read", AuditRecord.action.like("query.%"))
        )
    return statement


def record_view(row: AuditRecord) -> dict[str, Any]:
    view = {name: getattr(row, name) for name in HASHED_COLUMNS if name != "detail_enc"}
    view["at"] = iso_at(row.at) + "Z"
    view["detail_encrypted"] = row.detail_enc is not None
    view["hash"] = row.hash.hex()
    return view


def export_lines(deps: Deps, actor: Actor, first: int, last: int | None) -> Iterator[str]:
    """JSONL: a header, each record with its chain hash, then the checkpoint and proof.

    The proof is the inclusion of the range's last record in the checkpoint;
    since each chain hash commits to every record before it, that one proof
    authenticates the whole range (given the header's ``prev_hash``).
    """
    require_audit_reader(actor)
    with deps.unit_of_work() as uow:
        checkpoint = latest_checkpoint(uow.session)
        if checkpoint is None:
            raise NotFound("no checkpoint yet: run `datasteward audit checkpoint` first")
        last = checkpoint.tree_size if last is None else last
        if not 1 <= first <= last <= checkpoint.tree_size:
            raise Invalid.field("to", f"the range must lie in 1..{checkpoint.tree_size}")
        entries = list(iter_entries(uow.session, first - 1, last))
        if len(entries) != last - first + 1:
            raise NotFound(f"records {first} to {last} are not all live (archived and pruned?)")
        previous = stored_hashes(uow.session, first - 2, first - 1)
        leaves = leaves_upto(uow.session, checkpoint.tree_size)
        detail = {"first_seq": first, "last_seq": last}
        record(uow.session, actor, Event("audit.export", detail=detail), deps.now())
        uow.commit()
    header = {"type": "range", "first_seq": first, "last_seq": last}
    header["prev_hash"] = (previous[0][1] if previous else bytes(32)).hex()
    yield json.dumps(header) + "\n"
    for _, fields, stored in entries:
        yield json.dumps({"type": "record", "record": fields, "hash": stored.hex()}) + "\n"
    proof = [node.hex() for node in merkle.inclusion_proof(leaves, last - 1)]
    yield json.dumps({"type": "checkpoint", "checkpoint": checkpoint_view(checkpoint)}) + "\n"
    yield json.dumps({"type": "inclusion", "seq": last, "path": proof}) + "\n"
