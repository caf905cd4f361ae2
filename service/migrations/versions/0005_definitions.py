"""definitions: version review columns, feedback, periodic reviews

Revision ID: 0005_definitions
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_definitions"
down_revision = "0001"
branch_labels = None
depends_on = None

_PUBLISHED = sa.text("status = 'published'")


def upgrade() -> None:
    with op.batch_alter_table("procedure_versions", schema=None) as batch:
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_comment", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("approved_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("published_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("based_on_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("review_case_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
        for column in ("reviewed_by", "published_by", "retired_by"):
            batch.create_foreign_key(
                f"fk_procedure_versions_{column}_users", "users", [column], ["id"]
            )
        batch.create_foreign_key(
            "fk_procedure_versions_based_on_id_procedure_versions",
            "procedure_versions",
            ["based_on_id"],
            ["id"],
        )
        batch.create_index(
            "uq_procedure_versions_one_published",
            ["procedure"],
            unique=True,
            sqlite_where=_PUBLISHED,
            postgresql_where=_PUBLISHED,
        )
    _create_feedback()
    _create_reviews()
    op.create_table(
        "review_schedules",
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("interval_months", sa.Integer(), nullable=False),
        sa.Column("next_review_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_review_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("procedure", name=op.f("pk_review_schedules")),
    )


def _create_feedback() -> None:
    op.create_table(
        "procedure_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=128), nullable=True),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_procedure_feedback_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["procedure_versions.id"],
            name=op.f("fk_procedure_feedback_version_id_procedure_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_feedback")),
    )
    op.create_index(
        "ix_procedure_feedback_procedure", "procedure_feedback", ["procedure", "created_at"]
    )


def _create_reviews() -> None:
    op.create_table(
        "procedure_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procedure", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("draft_version_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by"], ["users.id"], name=op.f("fk_procedure_reviews_started_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["draft_version_id"],
            ["procedure_versions.id"],
            name=op.f("fk_procedure_reviews_draft_version_id_procedure_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_reviews")),
    )
    op.create_index(
        "ix_procedure_reviews_procedure", "procedure_reviews", ["procedure", "started_at"]
    )
    op.create_index("ix_procedure_reviews_case", "procedure_reviews", ["case_id"])


def downgrade() -> None:
    op.drop_table("review_schedules")
    op.drop_index("ix_procedure_reviews_case", table_name="procedure_reviews")
    op.drop_index("ix_procedure_reviews_procedure", table_name="procedure_reviews")
    op.drop_table("procedure_reviews")
    op.drop_index("ix_procedure_feedback_procedure", table_name="procedure_feedback")
    op.drop_table("procedure_feedback")
    with op.batch_alter_table("procedure_versions", schema=None) as batch:
        batch.drop_index("uq_procedure_versions_one_published")
        batch.drop_constraint(
            "fk_procedure_versions_based_on_id_procedure_versions", type_="foreignkey"
        )
        for column in ("retired_by", "published_by", "reviewed_by"):
            batch.drop_constraint(f"fk_procedure_versions_{column}_users", type_="foreignkey")
        for column in (
            "report",
            "review_case_id",
            "based_on_id",
            "retired_by",
            "retired_at",
            "published_by",
            "approved_hash",
            "review_comment",
            "reviewed_at",
            "reviewed_by",
            "submitted_at",
        ):
            batch.drop_column(column)
