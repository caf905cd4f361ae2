"""Mutation tests against a real database: every kind of tampering is caught and pinpointed."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from service.audit.checkpoints import make_checkpoint
from service.audit.verify import verify_live
from tests.integration.audit.audit_helpers import fill_log, tamper


@pytest.fixture
def log_of_30(deps):
    fill_log(deps, 20)
    assert make_checkpoint(deps) is not None
    fill_log(deps, 10)
    assert make_checkpoint(deps) is not None
    return deps


def test_an_untouched_log_verifies_with_its_checkpoints(log_of_30) -> None:
    report = verify_live(log_of_30)
    assert report.ok, report.problems
    assert (report.records, report.checkpoints) == (30, 2)


def test_a_changed_field_is_caught_at_its_record(log_of_30) -> None:
    tamper(log_of_30, "UPDATE audit_records SET outcome = 'refused' WHERE seq = 7")
    report = verify_live(log_of_30)
    assert (report.ok, report.first_bad_seq) == (False, 7)
    assert report.reason == "hash mismatch at seq 7: record changed"


def test_a_deleted_record_is_named(log_of_30) -> None:
    tamper(log_of_30, "DELETE FROM audit_records WHERE seq = 12")
    report = verify_live(log_of_30)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 12, "record 12 missing")


def test_two_swapped_records_are_caught_where_the_first_one_stood(log_of_30) -> None:
    tamper(
        log_of_30,
        "UPDATE audit_records SET seq = -5 WHERE seq = 5",
        "UPDATE audit_records SET seq = 5 WHERE seq = 6",
        "UPDATE audit_records SET seq = 6 WHERE seq = -5",
    )
    report = verify_live(log_of_30)
    assert (report.ok, report.first_bad_seq) == (False, 5)


def test_the_last_ten_records_dropped_is_a_truncated_tail(log_of_30) -> None:
    tamper(log_of_30, "DELETE FROM audit_records WHERE seq > 20")
    report = verify_live(log_of_30)
    assert (report.ok, report.first_bad_seq) == (False, 21)
    assert report.reason == "log truncated: records 21 to 30 missing"


def test_a_tail_dropped_with_the_head_row_rewound_is_still_caught_by_the_checkpoint(
    log_of_30,
) -> None:
    last_kept = "(SELECT hash FROM audit_records WHERE seq = 20)"
    tamper(
        log_of_30,
        "DELETE FROM audit_records WHERE seq > 20",
        f"UPDATE audit_head SET seq = 20, hash = {last_kept}",
    )
    report = verify_live(log_of_30)
    assert report.reason == "log truncated: records 21 to 30 missing"


def test_a_record_appended_behind_the_services_back_is_caught(log_of_30) -> None:
    tamper(
        log_of_30,
        "INSERT INTO audit_records (seq, at, action, outcome, hash) "
        "SELECT 31, at, 'auth.login', 'done', hash FROM audit_records WHERE seq = 30",
    )
    report = verify_live(log_of_30)
    assert (report.ok, report.first_bad_seq) == (False, 31)


def test_history_rewritten_with_every_chain_hash_recomputed_differs_from_the_checkpoint(
    log_of_30,
) -> None:
    from service.audit.chain import canonical_json, chain_hash
    from service.audit.log import iter_entries

    deps = log_of_30
    tamper(deps, "UPDATE audit_records SET actor = 'someone-else' WHERE seq = 25")
    with deps.unit_of_work() as uow:
        entries = list(iter_entries(uow.session))
    prev = entries[23][2]
    statements = []
    for seq, fields, _ in entries[24:]:
        prev = chain_hash(prev, canonical_json(fields))
        statements.append(f"UPDATE audit_records SET hash = {_hex(deps, prev)} WHERE seq = {seq}")
    tamper(deps, *statements, f"UPDATE audit_head SET hash = {_hex(deps, prev)}")
    report = verify_live(deps)
    assert (report.ok, report.first_bad_seq) == (False, 21)
    assert report.reason == "records 21 to 30 differ from signed checkpoint 2 (history rewritten)"


def test_a_forged_checkpoint_signature_is_caught(log_of_30) -> None:
    tamper(log_of_30, "UPDATE audit_checkpoints SET tree_size = 19 WHERE n = 1")
    report = verify_live(log_of_30)
    assert not report.ok
    assert "checkpoint 1: signature invalid" in report.problems


def test_postgres_refuses_update_and_delete_of_audit_records(deps) -> None:
    if not deps.db.is_postgres:
        pytest.skip("the append-only trigger is a PostgreSQL feature; SQLite relies on the chain")
    fill_log(deps, 3)
    make_checkpoint(deps)
    for statement in (
        "UPDATE audit_records SET outcome = 'refused' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 2",
        "UPDATE audit_checkpoints SET tree_size = 2",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(Exception, match="append-only"), deps.db.engine.begin() as conn:
            conn.execute(text(statement))


def test_postgres_prune_switch_alone_does_not_let_an_unarchived_record_go(deps) -> None:
    if not deps.db.is_postgres:
        pytest.skip("the append-only trigger is a PostgreSQL feature")
    fill_log(deps, 3)
    with pytest.raises(Exception, match="append-only"), deps.db.engine.begin() as conn:
        conn.execute(text("SET LOCAL datasteward.audit_prune = 'on'"))
        conn.execute(text("DELETE FROM audit_records WHERE seq = 1"))


def _hex(deps, value: bytes) -> str:
    return f"'\\x{value.hex()}'::bytea" if deps.db.is_postgres else f"X'{value.hex()}'"
