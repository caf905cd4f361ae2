"""Tasks: when a task was claimed, and an index of claimed tasks for supervisors.

A supervisor sees what the staff in their scope hold and since when (the
task list's `held` scope), to take back what is stuck. Tasks claimed before
this revision have no claim time; the list shows them without one.

Revision ID: 0014_task_claims
Revises: 0012_task_queue_order
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_task_claims"
down_revision = "0012_task_queue_order"
branch_labels = None
depends_on = None

CLAIMED = sa.text("status = 'claimed'")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_tasks_held",
        "tasks",
        [sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"],
        postgresql_where=CLAIMED,
        sqlite_where=CLAIMED,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_held", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("claimed_at")
