"""Procedure versions (immutable, content-hashed), staff feedback and periodic reviews."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

VERSION_STATUSES = ("draft", "in_review", "approved", "published", "retired", "rejected")


class ProcedureVersion(Base):
    __tablename__ = "procedure_versions"
    __table_args__ = (
        UniqueConstraint("procedure", "number"),
        Index("ix_procedure_versions_status", "procedure", "status"),
        # The database itself keeps "exactly one published version per procedure".
        Index(
            "uq_procedure_versions_one_published",
            "procedure",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # one of VERSION_STATUSES
    content_hash: Mapped[str] = mapped_column(String(64))
    diagram_hash: Mapped[str] = mapped_column(String(64))
    bpmn: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_comment: Mapped[str | None] = mapped_column(String(2000))
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_versions.id"))
    review_case_id: Mapped[str | None] = mapped_column(String(36))
    report: Mapped[list | None] = mapped_column(JSON)


class ProcedureFeedback(Base):
    """A member of staff's remark on a procedure or one of its steps."""

    __tablename__ = "procedure_feedback"
    __table_args__ = (Index("ix_procedure_feedback_procedure", "procedure", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(128))
    case_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_versions.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcedureReview(Base):
    """One periodic review of a procedure, run as a case of `procedure_review`."""

    __tablename__ = "procedure_reviews"
    __table_args__ = (
        Index("ix_procedure_reviews_procedure", "procedure", "started_at"),
        Index("ix_procedure_reviews_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(36))
    trigger: Mapped[str] = mapped_column(String(16))  # timer, hand
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))  # no_change, new_draft
    draft_version_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_versions.id"))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewSchedule(Base):
    """When each procedure is next due for its periodic review."""

    __tablename__ = "review_schedules"

    procedure: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval_months: Mapped[int]
    next_review_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_review_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
