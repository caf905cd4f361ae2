"""The audit trail: append-only, hash-chained records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_case", "case_id"),
        Index("ix_audit_subject", "subject"),
        Index("ix_audit_actor", "actor_id", "at"),
        Index("ix_audit_action", "action", "at"),
        Index("ix_audit_outcome", "outcome", "at"),
        Index("ix_audit_at", "at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None]
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # done, refused, failed
    reason: Mapped[str | None] = mapped_column(String(500))
    procedure: Mapped[str | None] = mapped_column(String(64))
    version_hash: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    subject: Mapped[str | None] = mapped_column(String(40))
    fields: Mapped[list | None] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(200))
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    detail_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """Single row holding the chain's tip; locking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed RFC 6962 tree head over records 1..tree_size (see checkpoint.py).

    ``subtree_roots`` is the Merkle compact range at ``tree_size``, so the next
    checkpoint hashes only the records appended since.
    """

    __tablename__ = "audit_checkpoints"

    n: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    subtree_roots: Mapped[list] = mapped_column(JSON)


class AuditSegment(Base):
    """A closed run of records sealed into one archive file.

    ``status`` moves forward only: sealed -> written -> archived -> pruned.
    A worker killed at any point leaves a status from which the next run
    resumes (the archive file is written under a temporary name and renamed).
    """

    __tablename__ = "audit_segments"
    __table_args__ = (Index("ix_audit_segments_status", "status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[str] = mapped_column(String(10))  # UTC day of the records, YYYY-MM-DD
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    checkpoint_n: Mapped[int | None] = mapped_column(BigInteger)
    object_name: Mapped[str | None] = mapped_column(String(200))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditPrunedLeaf(Base):
    """The chain hash of a record pruned from the live table (its content is archived).

    32 bytes per record and no content: enough for the chain to resume after
    the pruned range and for every checkpoint to be recomputed and proven.
    """

    __tablename__ = "audit_pruned_leaves"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
