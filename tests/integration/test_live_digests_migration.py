"""Upgrading to unique live digests: entered subjects' entries become live, drafts' do not,
and a database already holding two live records of one person is refused with the count."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from service.migrations import alembic_config


def _at_the_revision_before(tmp_path: Path) -> tuple[str, object]:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    config = alembic_config(url)
    command.upgrade(config, "heads")
    command.downgrade(config, "0013_live_digests-1")
    return url, config


def _subject(conn, pseudonym: str, status: str, digest: str) -> None:
    conn.execute(
        text(
            "INSERT INTO subjects (pseudonym, status, record_version, created_at, updated_at) "
            "VALUES (:p, :s, 1, '2030-01-01', '2030-01-01')"
        ),
        {"p": pseudonym, "s": status},
    )
    conn.execute(
        text("INSERT INTO blind_index (subject, kind, digest) VALUES (:p, 'mobile', :d)"),
        {"p": pseudonym, "d": digest},
    )


def test_entered_subjects_entries_go_live_and_drafts_stay_out(tmp_path):
    url, config = _at_the_revision_before(tmp_path)
    engine = create_engine(url)
    with engine.begin() as conn:
        _subject(conn, "sub_active", "active", "d1")
        _subject(conn, "sub_held", "held", "d2")
        _subject(conn, "sub_draft", "draft", "d1")  # a second case for the same person
    command.upgrade(config, "heads")
    with engine.connect() as conn:
        live = dict(conn.execute(text("SELECT subject, live FROM blind_index")).all())
    assert live == {"sub_active": 1, "sub_held": 1, "sub_draft": 0}
    engine.dispose()


def test_two_live_records_of_one_person_stop_the_upgrade_with_the_count(tmp_path):
    url, config = _at_the_revision_before(tmp_path)
    engine = create_engine(url)
    with engine.begin() as conn:
        _subject(conn, "sub_one", "active", "same")
        _subject(conn, "sub_two", "active", "same")
    with pytest.raises(RuntimeError, match="1 ID numbers or mobile numbers belong to more than"):
        command.upgrade(config, "heads")
    engine.dispose()
