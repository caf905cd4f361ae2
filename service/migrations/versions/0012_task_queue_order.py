"""Tasks: the queue index ends with the task id, so the queue order is total.

Tasks a step creates together share their creation time and due date, so
(due_at IS NULL, due_at, created_at) left their order to chance: a page
boundary between two such tasks could show one of them twice and the other
never. The task list now orders by the id last, and pages by seeking past a
task (`?after=`); both read this index in order.

Revision ID: 0012_task_queue_order
Revises: 0006_perf
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_task_queue_order"
down_revision = "0006_perf"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")
QUEUE: list[str | sa.TextClause] = ["lane", sa.text("(due_at IS NULL)"), "due_at", "created_at"]


def upgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.create_index(
        "ix_tasks_queue", "tasks", [*QUEUE, "id"], postgresql_where=OPEN, sqlite_where=OPEN
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.create_index("ix_tasks_queue", "tasks", QUEUE, postgresql_where=OPEN, sqlite_where=OPEN)
