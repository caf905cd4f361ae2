"""Encrypted subject records (data database) and wrapped data keys (key store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, KeystoreBase


class Subject(Base):
    """A customer, known only by a random pseudonym; values live in SubjectField."""

    __tablename__ = "subjects"

    pseudonym: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # draft, active, held, shredded
    record_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SubjectField(Base):
    """One field's AES-256-GCM ciphertext, bound to subject, field and record version."""

    __tablename__ = "subject_fields"

    subject: Mapped[str] = mapped_column(
        ForeignKey("subjects.pseudonym", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_version: Mapped[int]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


LIVE_DIGEST = text("live")


class BlindIndexEntry(Base):
    """Keyed HMAC of a normalised identifier, to find a subject without decrypting.

    ``live`` marks the entries of an entered (active or held) subject: no two
    of those share a digest (a unique partial index), so one person never has
    two live records and a lookup never finds two people, whatever runs at once.
    """

    __tablename__ = "blind_index"
    __table_args__ = (
        Index("ix_blind_index_digest", "kind", "digest"),
        Index(
            "uq_blind_index_live_digest",
            "kind",
            "digest",
            unique=True,
            postgresql_where=LIVE_DIGEST,
            sqlite_where=LIVE_DIGEST,
        ),
    )

    subject: Mapped[str] = mapped_column(
        ForeignKey("subjects.pseudonym", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    live: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WrappedKey(KeystoreBase):
    """A data key wrapped by a versioned key-encryption key (what rotation re-wraps)."""

    __abstract__ = True

    kek_version: Mapped[int]
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DataKey(WrappedKey):
    """A subject's data key."""

    __tablename__ = "data_keys"

    subject: Mapped[str] = mapped_column(String(40), primary_key=True)


class CaseKey(WrappedKey):
    """A running case's document key, for proof documents uploaded before its subject is known.

    Destroyed once the documents move under the subject's key, or when the case
    ends without a subject.
    """

    __tablename__ = "case_keys"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class NotificationKey(WrappedKey):
    """The key sealing one customer notification's destination (service/notifications).

    Destroyed once the notification is sent, given up or expired: the sealed
    destination left in the notification row is then unreadable.
    """

    __tablename__ = "notification_keys"

    notification_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class SubjectDocument(Base):
    """A proof document: its ciphertext lives in the file store under ``storage_key``."""

    __tablename__ = "subject_documents"
    __table_args__ = (Index("ix_subject_documents_subject", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(ForeignKey("subjects.pseudonym", ondelete="CASCADE"))
    case_id: Mapped[str | None] = mapped_column(String(36))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    uploaded_by: Mapped[int | None]
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseDocument(Base):
    """A proof document uploaded before its case knew its subject, held by the case's key.

    It becomes a SubjectDocument (same id) when the form naming the subject
    lists it, and is destroyed otherwise.
    """

    __tablename__ = "case_documents"
    __table_args__ = (Index("ix_case_documents_case_id", "case_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    uploaded_by: Mapped[int | None]
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeletionRequest(Base):
    """An approved deletion and how far its shredding got (the job's state machine)."""

    __tablename__ = "deletion_requests"
    __table_args__ = (
        Index("ix_deletion_requests_subject", "subject"),
        Index("ix_deletion_requests_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(36))
    # approved -> (held ->) key_destroyed -> data_removed -> certified -> completed
    state: Mapped[str] = mapped_column(String(16))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kek_version: Mapped[int | None]
    destroyed: Mapped[dict | None] = mapped_column(JSON)


class DeletionCertificate(Base):
    """The signed statement of one completed deletion; at most one per request."""

    __tablename__ = "deletion_certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(36))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))


class LegalHold(Base):
    """A legal hold or retention period: the subject is stored and secured, not destroyed."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_subject", "subject", "released_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # legal_hold, retention
    reason: Mapped[str] = mapped_column(String(200))
    placed_by: Mapped[int | None]
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class KeyRotation(Base):
    """Progress of one KEK rotation, so an interrupted `keys rotate` resumes."""

    __tablename__ = "key_rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_version: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rewrapped: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
