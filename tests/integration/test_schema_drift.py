"""The migrations build exactly the schema the models declare (tables, columns, types,
indexes), on SQLite and on PostgreSQL: a model change without its migration fails here."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import service.models  # noqa: F401 - every table on the metadata
from service.db import Base


def test_the_migrated_database_matches_the_models(deps):
    with deps.db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the expression indexes (the task queue's); PostgreSQL compares them.
        warnings.simplefilter("ignore")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
