"""Reading the stored log fast: raw rows in seq order, chain anchors, Merkle leaves.

Verification and checkpoints read every record, so they select plain column
tuples (no ORM objects) in batches. Leaf ``i`` of the Merkle tree is
``leaf_hash(chain_hash of record i + 1)``: the stored chain hash already
commits to the record and everything before it, so a leaf costs one SHA-256
and needs no re-encoding; verification recomputes the chain hash from the
fields first, so a leaf is only trusted once its record is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from service.audit.chain import GENESIS
from service.audit.merkle import leaf_hash
from service.audit.models import AuditHead, AuditPrunedLeaf, AuditRecord

HASHED_COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "role",
    "action",
    "outcome",
    "reason",
    "procedure",
    "version_hash",
    "case_id",
    "task_id",
    "subject",
    "fields",
    "purpose",
    "legal_basis",
    "request_id",
    "client_addr",
    "detail",
    "detail_enc",
)
_TABLE: Table = AuditRecord.__table__  # type: ignore[assignment]
_TABLE_COLUMNS = [_TABLE.c[name] for name in HASHED_COLUMNS]
BATCH = 20_000


def iso_at(at: datetime) -> str:
    """The timestamp as hashed: UTC, naive, microseconds (same on SQLite and PostgreSQL)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def fields_from_values(values: Sequence[Any]) -> dict[str, Any]:
    """Hashed fields from column values in HASHED_COLUMNS order."""
    fields = dict(zip(HASHED_COLUMNS, values, strict=True))
    fields["at"] = iso_at(fields["at"])
    encrypted = fields["detail_enc"]
    fields["detail_enc"] = bytes(encrypted).hex() if encrypted else None
    return fields


def iter_entries(
    session: Session, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """``(seq, hashed_fields, stored_hash)`` in seq order, fetched in keyset batches."""
    last = after_seq
    # Core rows on the session's connection: the ORM result layer would cost
    # more than hashing the record does.
    connection = session.connection()
    while True:
        query = select(*_TABLE_COLUMNS, _TABLE.c.hash).where(_TABLE.c.seq > last)
        if upto_seq is not None:
            query = query.where(_TABLE.c.seq <= upto_seq)
        rows = connection.execute(query.order_by(_TABLE.c.seq).limit(BATCH)).all()
        for row in rows:
            yield row[0], fields_from_values(row[:-1]), bytes(row[-1])
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def chain_anchor(session: Session) -> tuple[int, bytes]:
    """``(seq, hash)`` of the last pruned record: where the live chain resumes."""
    row = session.execute(
        select(AuditPrunedLeaf.seq, AuditPrunedLeaf.hash)
        .order_by(AuditPrunedLeaf.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS) if row is None else (row[0], bytes(row[1]))


def pruned_hashes(session: Session) -> list[tuple[int, bytes]]:
    rows = session.execute(
        select(AuditPrunedLeaf.seq, AuditPrunedLeaf.hash).order_by(AuditPrunedLeaf.seq)
    )
    return [(seq, bytes(stored)) for seq, stored in rows]


def stored_hashes(session: Session, after_seq: int, upto_seq: int) -> list[tuple[int, bytes]]:
    """``(seq, chain hash)`` for after_seq < seq <= upto_seq, pruned records included."""
    pruned = session.execute(
        select(AuditPrunedLeaf.seq, AuditPrunedLeaf.hash)
        .where(AuditPrunedLeaf.seq > after_seq, AuditPrunedLeaf.seq <= upto_seq)
        .order_by(AuditPrunedLeaf.seq)
    ).all()
    start = pruned[-1][0] if pruned else after_seq
    live = session.execute(
        select(AuditRecord.seq, AuditRecord.hash)
        .where(AuditRecord.seq > start, AuditRecord.seq <= upto_seq)
        .order_by(AuditRecord.seq)
    ).all()
    return [(seq, bytes(stored)) for seq, stored in (*pruned, *live)]


def leaves_upto(session: Session, tree_size: int) -> list[bytes]:
    """Merkle leaf hashes of records 1..tree_size; raises if any record is missing."""
    hashes = stored_hashes(session, 0, tree_size)
    check_contiguous(hashes, 0, tree_size)
    return [leaf_hash(stored) for _, stored in hashes]


def check_contiguous(hashes: list[tuple[int, bytes]], after_seq: int, upto_seq: int) -> None:
    for expected, (seq, _) in enumerate(hashes, start=after_seq + 1):
        if seq != expected:
            raise LogGap(f"record {expected} missing from the audit log")
    if len(hashes) != upto_seq - after_seq:
        raise LogGap(f"records {after_seq + len(hashes) + 1} to {upto_seq} missing")


class LogGap(RuntimeError):
    """The stored log lacks records it should have: the log was tampered with."""


def head_seq(session: Session) -> int:
    return session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0


def last_stored_seq(session: Session) -> int:
    live = session.scalar(select(func.max(AuditRecord.seq)))
    return live if live is not None else chain_anchor(session)[0]
