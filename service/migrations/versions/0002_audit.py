"""Audit: checkpoints, archive segments, pruned leaves; append-only triggers on PostgreSQL.

On PostgreSQL, UPDATE and DELETE on audit_records, audit_checkpoints and
audit_pruned_leaves are refused by a trigger. The one deliberate exception is
pruning: a DELETE of an audit record passes only in a transaction that ran
``SET LOCAL datasteward.audit_prune = 'on'`` AND only for a record that lies
in an archived segment and whose chain hash is already kept in
audit_pruned_leaves (see service/audit/archive.py). A superuser can still
disable triggers; the hash chain and signed checkpoints catch what they then do.

Revision ID: 0002_audit
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_records", "audit_checkpoints", "audit_pruned_leaves")

_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION datasteward_audit_append_only() RETURNS trigger AS $$
BEGIN
    -- Nested IFs: PL/pgSQL does not promise to short-circuit AND, and only
    -- audit_records has the columns the prune check reads.
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_records' THEN
        IF current_setting('datasteward.audit_prune', true) = 'on' THEN
            IF EXISTS (SELECT 1 FROM audit_segments s
                       WHERE s.status IN ('archived', 'pruned')
                         AND OLD.seq BETWEEN s.first_seq AND s.last_seq)
               AND EXISTS (SELECT 1 FROM audit_pruned_leaves p
                           WHERE p.seq = OLD.seq AND p.hash = OLD.hash) THEN
                RETURN OLD;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("n", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("subtree_roots", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_checkpoints_tree_size")),
    )
    op.create_table(
        "audit_segments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("checkpoint_n", sa.BigInteger(), nullable=True),
        sa.Column("object_name", sa.String(length=200), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_segments")),
        sa.UniqueConstraint("first_seq", name=op.f("uq_audit_segments_first_seq")),
    )
    with op.batch_alter_table("audit_segments", schema=None) as batch_op:
        batch_op.create_index("ix_audit_segments_status", ["status"], unique=False)
    op.create_table(
        "audit_pruned_leaves",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_pruned_leaves")),
    )
    # Search by outcome and time (compliance's "every refusal last week").
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index("ix_audit_outcome", ["outcome", "at"], unique=False)
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _create_triggers()


def _create_triggers() -> None:
    op.execute(_REFUSE_FUNCTION)
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION datasteward_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS datasteward_audit_append_only()")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")
        batch_op.drop_index("ix_audit_outcome")
    op.drop_table("audit_pruned_leaves")
    with op.batch_alter_table("audit_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_segments_status")
    op.drop_table("audit_segments")
    op.drop_table("audit_checkpoints")
