"""Procedure versions: an immutable, content-hashed diagram with its forms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class ProcedureVersion(Base):
    __tablename__ = "procedure_versions"
    __table_args__ = (
        UniqueConstraint("procedure", "number"),
        Index("ix_procedure_versions_status", "procedure", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(
        String(16)
    )  # draft, in_review, approved, published, retired
    content_hash: Mapped[str] = mapped_column(String(64))
    diagram_hash: Mapped[str] = mapped_column(String(64))
    bpmn: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
