"""Tasks: drop the two indexes 0006_perf made redundant.

- ix_tasks_open_by_lane (status, lane, due_at): the task list reads
  ix_tasks_queue (lane, due_at IS NULL, due_at, created_at WHERE status =
  'open') in order instead; this one only cost a write per task insert and
  status change, and space for every finished task.
- ix_tasks_case (case_id): ix_tasks_case_status (case_id, status) leads with
  the same column and serves every lookup by case.

Revision ID: 0009_task_indexes
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0009_task_indexes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_open_by_lane", table_name="tasks")
    op.drop_index("ix_tasks_case", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_case", "tasks", ["case_id"])
    op.create_index("ix_tasks_open_by_lane", "tasks", ["status", "lane", "due_at"])
