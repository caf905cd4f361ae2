"""The verifier's fast read of the log: the bytes the strict encoding gives, tampering caught."""

from __future__ import annotations

import hashlib

import pytest

from service.audit.service import Event, record
from service.audit.stream import iter_digests, strict_canonical
from service.audit.verify import verify_live
from tests.integration.audit.audit_helpers import CLERK, fill_log, tamper

AWKWARD = [
    Event(action="a", reason='quote " backslash \\ slash / tab \t newline \n bell \x07'),
    Event(action="b", reason="中文 Zoë ✓ 𠮷 emoji 🙂 and \u2028 line separator"),
    Event(action="c", fields=["mobile", "address"], detail={"z": 1, "a": [True, None, 2.5]}),
    Event(action="d", detail={"nested": {"b": "x", "a": {"d": [], "c": {}}}}, purpose=""),
    Event(action="e", detail_enc=bytes(range(40)), subject="psn-1", legal_basis="contract"),
    Event(action="f", detail={"big": 12345678901234567890, "neg": -0.5, "e": 1e-7}),
    Event(action="g", purpose="".join(map(chr, range(1, 32))) + " and delete \x7f"),
    Event(action='h "quoted"', task_id="only a backslash \\", legal_basis="/ plain"),
]


@pytest.fixture
def awkward_log(deps):
    fill_log(deps, 3)
    for event in AWKWARD:
        with deps.unit_of_work() as uow:
            record(uow.session, CLERK, event, deps.now())
            uow.commit()
    return deps


def test_the_fast_read_gives_every_record_the_digest_of_the_bytes_it_hashed(awkward_log) -> None:
    with awkward_log.unit_of_work() as uow:
        digested = list(iter_digests(uow.session))
        assert [seq for seq, _, _ in digested] == list(range(1, 4 + len(AWKWARD)))
        for seq, digest, _ in digested:
            strict = strict_canonical(uow.session, seq)
            assert strict is not None
            assert digest == hashlib.sha256(strict).digest(), seq
    assert verify_live(awkward_log).ok


def test_a_json_column_respelt_with_the_same_value_still_verifies(awkward_log) -> None:
    tamper(
        awkward_log,
        """UPDATE audit_records SET fields = '[ "mobile",  "address" ]' WHERE seq = 6""",
    )
    report = verify_live(awkward_log)
    assert report.ok, report.problems
    assert report.records == 3 + len(AWKWARD)


@pytest.mark.parametrize(
    ("statement", "seq"),
    [
        ("""UPDATE audit_records SET fields = '["mobile"]' WHERE seq = 6""", 6),
        (
            """UPDATE audit_records SET detail = '{"a": [true, null, 2.5], "z": 2}'"""
            " WHERE seq = 6",
            6,
        ),
        ("UPDATE audit_records SET reason = 'quote' WHERE seq = 4", 4),
        ("UPDATE audit_records SET detail_enc = NULL WHERE seq = 8", 8),
        ("UPDATE audit_records SET at = at + interval '1 second' WHERE seq = 2", 2),
        ("UPDATE audit_records SET actor_id = NULL WHERE seq = 3", 3),
        ("""UPDATE audit_records SET purpose = 'x", "y' WHERE seq = 7""", 7),
        ("UPDATE audit_records SET task_id = 'only a backslash' WHERE seq = 11", 11),
        (
            "UPDATE audit_records SET hash = (SELECT hash FROM audit_records WHERE seq = 1)"
            " WHERE seq = 5",
            5,
        ),
    ],
)
def test_a_changed_column_is_caught_at_its_record(awkward_log, statement, seq) -> None:
    if not awkward_log.db.is_postgres and "interval" in statement:
        statement = (
            "UPDATE audit_records SET at = replace(at, substr(at, 18, 2), '59') WHERE seq = 2"
        )
    tamper(awkward_log, statement)
    report = verify_live(awkward_log)
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problems


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 4 records, so a short log crosses several (PostgreSQL reads one ahead)."""
    from service.audit import stream, verify

    monkeypatch.setattr(stream, "FETCH", 4)
    monkeypatch.setattr(verify, "BATCH", 3)


@pytest.mark.usefixtures("small_batches")
def test_the_read_crosses_batches_in_seq_order(deps) -> None:
    fill_log(deps, 23)
    with deps.unit_of_work() as uow:
        assert [seq for seq, _, _ in iter_digests(uow.session)] == list(range(1, 24))
        assert [seq for seq, _, _ in iter_digests(uow.session, 5, 18)] == list(range(6, 19))
        assert list(iter_digests(uow.session, 23)) == []
    assert verify_live(deps).records == 23


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize(
    ("statement", "seq"),
    [
        ("UPDATE audit_records SET actor = 'someone else' WHERE seq = 14", 14),
        ("DELETE FROM audit_records WHERE seq = 9", 9),
        ("DELETE FROM audit_records WHERE seq = 23", 23),
    ],
)
def test_tampering_in_a_later_batch_is_caught_at_its_record(deps, statement, seq) -> None:
    fill_log(deps, 23)
    tamper(deps, statement)
    report = verify_live(deps)
    assert (report.ok, report.first_bad_seq) == (False, seq), report.problems
