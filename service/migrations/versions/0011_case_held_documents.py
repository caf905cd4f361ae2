"""Cases: whether a case ever held proof documents under its own key.

Set by the first such upload (under the case lock). The form that names the
subject, and the end of the case, look for case-held documents only when it
is set, so the cases that never held one -- nearly all -- skip two queries.

Revision ID: 0011_case_held_documents
Revises: 0010_case_document_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_case_held_documents"
down_revision = "0010_case_document_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cases",
        sa.Column("held_documents", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Cases that hold documents now (uploaded before this column existed) keep them found.
    op.execute(
        "UPDATE cases SET held_documents = TRUE"
        " WHERE id IN (SELECT case_id FROM case_documents)"
    )


def downgrade() -> None:
    op.drop_column("cases", "held_documents")
