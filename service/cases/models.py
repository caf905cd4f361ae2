"""Cases (process instances) and the mirror of their human tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_next_timer_at", "next_timer_at"),
        Index("ix_cases_subject", "subject"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    procedure: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("procedure_versions.id"))
    status: Mapped[str] = mapped_column(String(16))  # running, completed
    outcome: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(40))
    started_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_timer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lock_version: Mapped[int] = mapped_column(default=1)
    state: Mapped[str] = mapped_column(Text)
    spiff_version: Mapped[str] = mapped_column(String(16))
    serializer_version: Mapped[str] = mapped_column(String(16))


class Task(Base):
    """One human task, mirrored from the engine so task lists never load a workflow."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_open_by_lane", "status", "lane", "due_at"),
        Index("ix_tasks_assignee", "assignee_id", "status"),
        Index("ix_tasks_case", "case_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    procedure: Mapped[str] = mapped_column(String(64))
    spec_name: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(256))
    lane: Mapped[str] = mapped_column(String(32))
    form: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # open, claimed, completed, cancelled
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
