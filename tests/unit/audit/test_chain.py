import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest

from service.audit.chain import (
    _ENCODER,
    GENESIS,
    ChainReport,
    _encode,
    canonical_json,
    chain_hash,
    hash_records,
    record_digest,
    verify_chain,
    verify_digest_chain,
)

Entry = tuple[int, Mapping[str, object], bytes]


def audit_record(seq: int) -> dict[str, object]:
    return {
        "action": "subject.update",
        "actor": "u-1042",
        "at": f"2025-11-29T01:{seq % 60:02d}:00+00:00",
        "fields": ["email", "phone"],
        "outcome": "ok",
        "subject": f"psn-{seq:04d}",
    }


def stored_log(count: int) -> list[Entry]:
    records = [audit_record(seq) for seq in range(1, count + 1)]
    return [
        (seq, record, stored)
        for seq, (record, stored) in enumerate(
            zip(records, hash_records(records), strict=True), start=1
        )
    ]


# --- canonical JSON ----------------------------------------------------------


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": True}]}) == (
        b'{"a":[1,{"c":true,"d":null}],"b":1}'
    )


def test_canonical_json_writes_utf8_without_escapes() -> None:
    assert canonical_json({"name": "Zoë ✓"}) == '{"name":"Zoë ✓"}'.encode()


def test_canonical_json_does_not_depend_on_insertion_order() -> None:
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_canonical_json_refuses_a_datetime_that_was_not_made_an_iso_string() -> None:
    with pytest.raises(TypeError, match="ISO strings"):
        canonical_json({"at": datetime(2025, 11, 29, tzinfo=UTC)})


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"score": float("nan")})


def test_canonical_json_accepts_any_mapping_not_only_dict() -> None:
    class Frozen(Mapping[str, object]):
        def __init__(self, **items: object) -> None:
            self._items = items

        def __getitem__(self, key: str) -> object:
            return self._items[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._items)

        def __len__(self) -> int:
            return len(self._items)

    assert canonical_json(Frozen(b=1, a=Frozen(z=2))) == b'{"a":{"z":2},"b":1}'


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"a": 1.5, "b": -0.0, "c": 10**30, "d": 'line\nbreak "quoted" \\ \u0001'},
        {"nested": {"list": [1, "two", None, False, {"k": []}]}, "emoji": "🔐"},
        {"top": ("tuple", "as", "list")},
    ],
)
def test_fast_encoder_writes_exactly_what_the_public_json_encoder_writes(
    record: dict[str, object],
) -> None:
    assert (
        _encode(record)
        == _ENCODER.encode(record)
        == json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )


# --- chain hash ------------------------------------------------------------------


def test_chain_hash_is_sha256_of_previous_hash_and_record_digest() -> None:
    canonical = canonical_json(audit_record(1))
    expected = hashlib.sha256(GENESIS + hashlib.sha256(canonical).digest()).digest()
    assert chain_hash(GENESIS, canonical) == expected
    assert record_digest(canonical) == hashlib.sha256(canonical).digest()


def test_genesis_is_32_zero_bytes() -> None:
    assert GENESIS == b"\x00" * 32


def test_chain_hash_refuses_a_previous_hash_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        chain_hash(b"short", b"{}")


# --- verify_chain ----------------------------------------------------------------


def test_verify_chain_accepts_an_untouched_log() -> None:
    assert verify_chain(stored_log(50)) == ChainReport(ok=True, checked=50)


def test_verify_chain_accepts_an_empty_log() -> None:
    assert verify_chain([]) == ChainReport(ok=True, checked=0)


def test_verify_chain_pinpoints_a_changed_record() -> None:
    log = stored_log(10)
    seq, record, stored = log[6]
    log[6] = (seq, {**record, "outcome": "refused"}, stored)
    report = verify_chain(log)
    assert report == ChainReport(False, 6, 7, "hash mismatch at seq 7: record changed")


def test_verify_chain_pinpoints_a_changed_stored_hash() -> None:
    log = stored_log(10)
    seq, record, _ = log[3]
    log[3] = (seq, record, bytes(32))
    assert verify_chain(log).first_bad_seq == 4


def test_verify_chain_names_a_removed_record() -> None:
    log = stored_log(10)
    del log[4]
    assert verify_chain(log) == ChainReport(False, 4, 5, "record 5 missing")


def test_verify_chain_names_every_record_of_a_removed_run() -> None:
    log = stored_log(10)
    del log[2:5]
    assert verify_chain(log) == ChainReport(False, 2, 3, "records 3 to 5 missing")


def test_verify_chain_catches_a_record_inserted_under_a_duplicate_seq() -> None:
    log = stored_log(10)
    log.insert(3, (3, audit_record(99), bytes(32)))
    assert verify_chain(log) == ChainReport(False, 3, 3, "duplicate seq 3: record inserted")


def test_verify_chain_catches_a_record_inserted_and_the_rest_renumbered() -> None:
    log = stored_log(10)
    forged = [(seq + 1, record, stored) for seq, record, stored in log[3:]]
    log = [*log[:3], (4, audit_record(99), chain_hash(bytes(32), b"{}")), *forged]
    assert verify_chain(log).first_bad_seq == 4


def test_verify_chain_catches_two_records_that_traded_places() -> None:
    log = stored_log(10)
    log[4], log[5] = log[5], log[4]
    assert verify_chain(log) == ChainReport(False, 4, 6, "seq 6 before seq 5: records reordered")


def test_verify_chain_catches_a_record_moved_back_in_the_log() -> None:
    log = stored_log(10)
    log.insert(8, log.pop(2))
    report = verify_chain(log)
    assert not report.ok
    assert report.first_bad_seq == 3


def test_verify_chain_reports_a_record_moved_far_ahead_as_missing_where_it_belongs() -> None:
    # One record of lookahead tells a swap of neighbours from a removal; a
    # record moved further is reported at the place it was taken from.
    log = stored_log(10)
    log.insert(6, log.pop(1))
    assert verify_chain(log) == ChainReport(False, 1, 2, "record 2 missing")


def test_verify_chain_resumes_after_a_trusted_record() -> None:
    log = stored_log(20)
    _, _, trusted_hash = log[11]
    assert verify_chain(log[12:], start_prev=trusted_hash, start_seq=13) == ChainReport(True, 8)


def test_verify_chain_reports_a_record_that_is_not_json() -> None:
    log = stored_log(3)
    log[1] = (2, {"at": datetime(2025, 1, 1, tzinfo=UTC)}, log[1][2])
    report = verify_chain(log)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 1, 2)
    assert report.reason is not None and "not canonical JSON" in report.reason


def test_verify_chain_cannot_see_a_cut_off_tail_which_checkpoints_must_catch() -> None:
    # Documented limit: a prefix of a valid chain is a valid chain.
    assert verify_chain(stored_log(10)[:7]) == ChainReport(True, 7)


# --- verify_digest_chain ---------------------------------------------------------


def digested_log(count: int) -> list[tuple[int, bytes, bytes]]:
    return [
        (seq, hashlib.sha256(canonical_json(record)).digest(), stored)
        for seq, record, stored in stored_log(count)
    ]


def test_verify_digest_chain_accepts_an_untouched_log() -> None:
    assert verify_digest_chain(digested_log(30)) == ChainReport(ok=True, checked=30)


def test_verify_digest_chain_accepts_a_loose_encoding_that_is_canonical_when_rechecked() -> None:
    records = stored_log(10)
    log = digested_log(10)
    seq, record, stored = records[4]
    loose = json.dumps(record).encode()  # spaces and unsorted keys: the same values
    log[4] = (seq, hashlib.sha256(loose).digest(), stored)
    strict = {seq: canonical_json(record)}
    assert verify_digest_chain(log, recheck=strict.get) == ChainReport(ok=True, checked=10)


def test_verify_digest_chain_reports_a_changed_record_that_the_recheck_confirms() -> None:
    records = stored_log(10)
    log = digested_log(10)
    seq, record, stored = records[6]
    changed = canonical_json(record).replace(b'"ok"', b'"refused"')
    assert changed != canonical_json(record)
    log[6] = (seq, hashlib.sha256(changed).digest(), stored)
    report = verify_digest_chain(log, recheck={seq: changed}.get)
    assert report == ChainReport(False, 6, 7, "hash mismatch at seq 7: record changed")


def test_verify_digest_chain_without_a_recheck_reports_any_other_digest() -> None:
    log = digested_log(10)
    seq, digest, stored = log[2]
    log[2] = (seq, hashlib.sha256(digest).digest(), stored)
    assert verify_digest_chain(log).first_bad_seq == 3


def test_verify_digest_chain_reports_a_record_the_recheck_cannot_encode() -> None:
    log = digested_log(5)
    seq, _, stored = log[1]
    log[1] = (seq, hashlib.sha256(b"").digest(), stored)
    report = verify_digest_chain(log, recheck=lambda _seq: None)
    assert report == ChainReport(False, 1, 2, "record 2 is not canonical JSON")


def test_verify_digest_chain_names_a_removed_record_as_verify_chain_does() -> None:
    log = digested_log(10)
    del log[4]
    assert verify_digest_chain(log) == ChainReport(False, 4, 5, "record 5 missing")
