"""Performance: indexes shaped like the hot queries, so their cost stays flat as data grows.

- ix_tasks_queue serves the task list: a role's open tasks, overdue first
  (due_at IS NULL, due_at, created_at). ix_tasks_open_by_lane (status, lane,
  due_at) finds the rows but not in that order, so every page sorted all of
  the role's open tasks. Partial (open tasks only): it stays as small as the
  queue, and queries about finished tasks cannot wander into it.
- ix_tasks_case_status serves the per-case lookups by status (separation of
  duties, the case summary's open tasks). Without it SQLite, which has no
  statistics unless ANALYZE ran, read them through ix_tasks_open_by_lane's
  leading status column: every completed task in the database, on each
  completion (measured: 10 ms a check at 10,000 finished cases, growing).

Revision ID: 0006_perf
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_perf"
down_revision = "0001"
branch_labels = None
depends_on = None

QUEUE_COLUMNS: list[str | sa.TextClause] = [
    "lane",
    sa.text("(due_at IS NULL)"),
    "due_at",
    "created_at",
]
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index(
        "ix_tasks_queue", "tasks", QUEUE_COLUMNS, postgresql_where=OPEN, sqlite_where=OPEN
    )
    op.create_index("ix_tasks_case_status", "tasks", ["case_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_tasks_case_status", table_name="tasks")
    op.drop_index("ix_tasks_queue", table_name="tasks")
