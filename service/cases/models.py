"""Cases (process instances) and the mirror of their human tasks."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, ForeignKey, Index, String, Text, false, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base
from service.errors import NotFound

# The reference customers and staff quote for a case: its id's first eight characters
# (on the case page, in every text message).
CASE_REFERENCE = re.compile(r"[0-9a-f]{8}")


def starting_with(column: Any, reference: str) -> list[ColumnElement[bool]]:
    """Ids starting with the reference, as a range an index on the column serves
    (whatever the column's collation)."""
    terms = [column >= reference, column.startswith(reference)]
    if reference != "ffffffff":
        terms.append(column < format(int(reference, 16) + 1, "08x"))
    return terms


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
    # The scope the case was started in; scoped roles act only on their own.
    department: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_timer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lock_version: Mapped[int] = mapped_column(default=1)
    state: Mapped[str] = mapped_column(Text)
    spiff_version: Mapped[str] = mapped_column(String(16))
    serializer_version: Mapped[str] = mapped_column(String(16))
    # Whether the case ever held proof documents under its own key (see case_documents).
    held_documents: Mapped[bool] = mapped_column(default=False, server_default=false())


class Task(Base):
    """One human task, mirrored from the engine so task lists never load a workflow."""

    __tablename__ = "tasks"
    __table_args__ = (
        # The task list: a role's open tasks, overdue first, read in index order
        # (partial: it holds the queue only). Migrations 0006_perf, 0009_task_indexes and
        # 0012_task_queue_order.
        Index(
            "ix_tasks_queue",
            "lane",
            text("(due_at IS NULL)"),
            "due_at",
            "created_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_tasks_assignee", "assignee_id", "status"),
        # What staff hold, for their supervisors, in queue order (partial: claimed tasks
        # only). Migration 0014_task_claims.
        Index(
            "ix_tasks_held",
            text("(due_at IS NULL)"),
            "due_at",
            "created_at",
            "id",
            postgresql_where=text("status = 'claimed'"),
            sqlite_where=text("status = 'claimed'"),
        ),
        # A case's tasks, by status (the case lock path, separation of duties, summaries).
        Index("ix_tasks_case_status", "case_id", "status"),
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
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


def lock_case(session: Session, case_id: str) -> Case:
    """The case row, locked for this transaction (one writer per case), read afresh."""
    case = session.scalars(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case
