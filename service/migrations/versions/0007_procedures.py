"""Lifecycle procedures: request due dates, pending changes, grants, consents, notifications

Revision ID: 0007_procedures
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_procedures"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "pending_changes",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("legal_basis", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_views", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
    )
    op.create_index("ix_grants_requester", "grants", ["requester_id", "expires_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_notifications_unsent", "notifications", ["sent_at", "created_at"])
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "subject",
            sa.String(40),
            sa.ForeignKey(
                "subjects.pseudonym", ondelete="CASCADE", name="fk_consents_subject_subjects"
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_index("ix_notifications_unsent", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_grants_requester", table_name="grants")
    op.drop_table("grants")
    op.drop_table("pending_changes")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("due_at")
