"""Performance: an index that serves the task list's order, not only its filter.

The task list asks for a role's open tasks, overdue first (due_at IS NULL,
due_at, created_at). ix_tasks_open_by_lane (status, lane, due_at) finds the
rows but cannot give that order, so the database sorted every open task of
the role for each page. This index matches filter and order column for
column: a page is read straight off the index, however many tasks are open.

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
    "status",
    "lane",
    sa.text("(due_at IS NULL)"),
    "due_at",
    "created_at",
]


def upgrade() -> None:
    op.create_index("ix_tasks_queue", "tasks", QUEUE_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
