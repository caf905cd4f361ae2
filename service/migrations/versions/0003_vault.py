"""vault: proof documents, deletion requests and certificates, legal holds, key rotations

Revision ID: 0003_vault
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_vault"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(128), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject"],
            ["subjects.pseudonym"],
            name="fk_subject_documents_subject_subjects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_subject_documents"),
    )
    op.create_index("ix_subject_documents_subject", "subject_documents", ["subject"])
    op.create_table(
        "deletion_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approved_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("key_destroyed_at", TZ, nullable=True),
        sa.Column("kek_version", sa.Integer(), nullable=True),
        sa.Column("destroyed", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deletion_requests"),
    )
    op.create_index("ix_deletion_requests_subject", "deletion_requests", ["subject"])
    op.create_index("ix_deletion_requests_state", "deletion_requests", ["state"])
    op.create_table(
        "deletion_certificates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deletion_certificates"),
        sa.UniqueConstraint("request_id", name="uq_deletion_certificates_request_id"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("placed_by", sa.Integer(), nullable=True),
        sa.Column("placed_at", TZ, nullable=False),
        sa.Column("until", TZ, nullable=True),
        sa.Column("released_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_legal_holds"),
    )
    op.create_index("ix_legal_holds_subject", "legal_holds", ["subject", "released_at"])
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_key_rotations"),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")
    op.drop_index("ix_legal_holds_subject", "legal_holds")
    op.drop_table("legal_holds")
    op.drop_table("deletion_certificates")
    op.drop_index("ix_deletion_requests_state", "deletion_requests")
    op.drop_index("ix_deletion_requests_subject", "deletion_requests")
    op.drop_table("deletion_requests")
    op.drop_index("ix_subject_documents_subject", "subject_documents")
    op.drop_table("subject_documents")
