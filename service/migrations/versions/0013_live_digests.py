"""Vault: a live subject's blind-index digests are unique (one person, one live record).

A draft's entries are not live; entering a subject marks its entries live, and
a unique partial index over live (kind, digest) refuses a second live record
of the same person (or a mobile number on two live records) atomically, also
for two entries or changes committing at once. A database that already holds
such twins cannot take the index: the upgrade says how many and stops.

Revision ID: 0013_live_digests
Revises: 0003_vault
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_live_digests"
down_revision = "0003_vault"
branch_labels = None
depends_on = None

LIVE = sa.text("live")


def upgrade() -> None:
    with op.batch_alter_table("blind_index") as batch:
        batch.add_column(sa.Column("live", sa.Boolean(), nullable=False, server_default=sa.false()))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE blind_index SET live = :yes WHERE subject IN "
            "(SELECT pseudonym FROM subjects WHERE status IN ('active', 'held'))"
        ),
        {"yes": True},
    )
    shared = bind.execute(
        sa.text(
            "SELECT count(*) FROM (SELECT kind, digest FROM blind_index WHERE live "
            "GROUP BY kind, digest HAVING count(*) > 1) AS twins"
        )
    ).scalar_one()
    if shared:
        raise RuntimeError(
            f"{shared} ID numbers or mobile numbers belong to more than one live subject; "
            "merge or correct those records (change requests, deletions) before upgrading"
        )
    op.create_index(
        "uq_blind_index_live_digest",
        "blind_index",
        ["kind", "digest"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_blind_index_live_digest", table_name="blind_index")
    with op.batch_alter_table("blind_index") as batch:
        batch.drop_column("live")
