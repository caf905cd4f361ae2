"""access: a case records the branch and department it belongs to; TOTP replay guard

- cases.department / cases.branch: the scope a case was started in, so branch-
  and department-scoped roles are filtered by what the case says, not by where
  its starter works today. Existing cases take their starter's.
- users.totp_last_counter: the RFC 6238 time step of the last accepted code, so
  a code cannot be used twice.

Revision ID: 0008_access_scope_replay
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_access_scope_replay"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch.add_column(sa.Column("branch", sa.String(64), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_last_counter", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE cases SET"
        " department = (SELECT users.department FROM users WHERE users.id = cases.started_by),"
        " branch = (SELECT users.branch FROM users WHERE users.id = cases.started_by)"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_counter")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("branch")
        batch.drop_column("department")
