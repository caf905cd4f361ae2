"""Customer notifications are delivered: state, sealed destination, attempts.

Each notification now carries its destination (the customer's mobile number)
sealed under a key of its own in the key store, and how its delivery went.
Rows queued before this revision have no destination and were never sent: they
become `undeliverable`, saying why, rather than being sent late to a number
read now.

Revision ID: 0015_notification_delivery
Revises: 0007_procedures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_notification_delivery"
down_revision = "0007_procedures"
branch_labels = None
depends_on = None

QUEUED = sa.text("state = 'queued'")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="queued")
        )
        batch.add_column(sa.Column("destination", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_error", sa.String(200), nullable=True))
    op.execute(
        "UPDATE notifications SET state = 'undeliverable', "
        "last_error = 'queued before notifications were delivered' WHERE sent_at IS NULL"
    )
    op.execute("UPDATE notifications SET state = 'sent' WHERE sent_at IS NOT NULL")
    op.drop_index("ix_notifications_unsent", table_name="notifications")
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at", "id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index("ix_notifications_case", "notifications", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_case", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.create_index("ix_notifications_unsent", "notifications", ["sent_at", "created_at"])
    with op.batch_alter_table("notifications") as batch:
        for column in ("last_error", "next_attempt_at", "attempts", "destination", "state"):
            batch.drop_column(column)
