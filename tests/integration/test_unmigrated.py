"""The service refuses to start on a database `datasteward init` has not prepared."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.bootstrap import NotMigrated
from service.config import Settings
from service.vault.keys import KeysMissing, load_vault_keys


def test_app_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    from service.app import create_app

    settings = Settings(var_dir=str(tmp_path)).resolved()
    load_vault_keys(settings, create=True)
    with pytest.raises(NotMigrated, match="run `datasteward init`"):
        create_app(settings)


def test_a_fresh_machine_is_told_to_run_init(tmp_path: Path) -> None:
    from service.app import create_app

    with pytest.raises((NotMigrated, KeysMissing), match="datasteward init"):
        create_app(Settings(var_dir=str(tmp_path)).resolved())


def test_app_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from service.app import create_app

    settings = Settings(var_dir=str(tmp_path)).resolved()
    load_vault_keys(settings, create=True)
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
    engine.dispose()
    with pytest.raises(NotMigrated, match="needs"):
        create_app(settings)
