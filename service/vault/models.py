"""Encrypted subject records (data database) and wrapped data keys (key store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String
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


class BlindIndexEntry(Base):
    """Keyed HMAC of a normalised identifier, to find a subject without decrypting."""

    __tablename__ = "blind_index"
    __table_args__ = (Index("ix_blind_index_digest", "kind", "digest"),)

    subject: Mapped[str] = mapped_column(
        ForeignKey("subjects.pseudonym", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))


class DataKey(KeystoreBase):
    """A subject's data key, wrapped by a versioned key-encryption key."""

    __tablename__ = "data_keys"

    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    kek_version: Mapped[int]
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
