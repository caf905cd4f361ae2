"""Hash chain over audit records.

Each audit record is stored with a chain hash that covers the record and,
through the previous record's hash, every record before it::

    record_digest  = SHA-256(canonical_json(record))
    chain_hash(n)  = SHA-256(chain_hash(n - 1) || record_digest(n))
    chain_hash(0)  = GENESIS (32 zero bytes)

Hashing the record first keeps the outer input a fixed 64 bytes, so no choice
of record bytes can shift the boundary between the two parts, and it lets
the record digest be reused on its own (for example as Merkle leaf data).

What the chain catches: a record edited in place, a record removed from the
middle, a record inserted with a duplicate or extra sequence number, and
records out of order. What it cannot catch on its own: a cut-off tail (the
shorter chain is still a valid chain) and a suffix rewritten by someone who
recomputes every later hash. Signed Merkle checkpoints
(:mod:`service.audit.checkpoint`) close both gaps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = bytes(32)

Entry = tuple[int, Mapping[str, object], bytes]


def _refuse_non_json(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(
        f"{type(value).__name__} is not JSON; convert datetimes to ISO strings before auditing"
    )


_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,  # NaN and Infinity are not JSON; another parser could not read them
    sort_keys=True,
    separators=(",", ":"),
    default=_refuse_non_json,
)


def _fast_encoder() -> Callable[[object], str]:
    """The same encoding as ``_ENCODER.encode``, a third cheaper per record.

    ``JSONEncoder.encode`` rebuilds its C encoder and goes through two Python
    frames on every call; verify_chain encodes every record of the log, so
    the C encoder is built once here. Without it (another interpreter) the
    public path is used. A test holds both to the same bytes.
    """
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:
        return _ENCODER.encode
    # Arguments as JSONEncoder.iterencode passes them. No circular-reference
    # markers: a record that contains itself ends in RecursionError instead.
    encode_chunks = make_c_encoder(
        None, _refuse_non_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda record: "".join(encode_chunks(record, 0))


_encode = _fast_encoder()


def canonical_json(record: Mapping[str, object]) -> bytes:
    """The one byte string a record hashes as.

    Sorted keys, no whitespace, UTF-8 without escaping. Values must already
    be JSON types: a datetime raises ``TypeError``, NaN ``ValueError``. Keys
    follow JSON: ``{1: x}`` encodes as ``{"1": x}``, the same JSON object, and
    so the same record once stored.
    """
    return _encode(record).encode("utf-8")


def canonical_text(value: object) -> str:
    """`canonical_json` of any JSON value, as text (what JSON columns store)."""
    return _encode(value)


def record_digest(canonical: bytes) -> bytes:
    return hashlib.sha256(canonical).digest()


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """Hash of a record linked to its predecessor; see the module docstring."""
    if len(prev_hash) != len(GENESIS):
        raise ValueError("previous chain hash must be 32 bytes")
    return hashlib.sha256(prev_hash + hashlib.sha256(canonical).digest()).digest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_chain(
    records: Iterable[Entry], start_prev: bytes = GENESIS, start_seq: int = 1
) -> ChainReport:
    """Walk records in storage order and report the first break.

    Each item is ``(seq, record_fields, stored_hash)``. ``start_prev`` and
    ``start_seq`` let a verifier resume after a record it already trusts.
    ``checked`` counts the records that verified before the first break.
    A truncated tail is not a break here; see the module docstring.
    """
    entries = iter(records)
    prev, expected = start_prev, start_seq
    sha256, encode = hashlib.sha256, _encode  # bound once: this loop is the hot path
    try:
        for seq, fields, stored_hash in entries:
            if seq != expected:
                return _sequence_break(seq, expected, expected - start_seq, entries)
            digest = sha256(encode(fields).encode()).digest()
            if sha256(prev + digest).digest() != stored_hash:
                reason = f"hash mismatch at seq {seq}: record changed"
                return ChainReport(False, expected - start_seq, seq, reason)
            prev = stored_hash
            expected += 1
    except (TypeError, ValueError) as error:
        reason = f"record {expected} is not canonical JSON: {error}"
        return ChainReport(False, expected - start_seq, expected, reason)
    return ChainReport(True, expected - start_seq)


DigestEntry = tuple[int, bytes, bytes]


def verify_digest_chain(
    records: Iterable[DigestEntry],
    start_prev: bytes = GENESIS,
    start_seq: int = 1,
    recheck: Callable[[int], bytes | None] | None = None,
) -> ChainReport:
    """`verify_chain` over records already digested: ``(seq, record_digest, stored_hash)``.

    The digests may come from a quick and loose encoding; when a record's
    digest does not chain to its stored hash, ``recheck(seq)`` gives the
    strict canonical bytes (or None when the record cannot be encoded) and
    only a mismatch of those is a break. A loose encoding that matches is as
    good as the strict one: equal digests under SHA-256 mean the same bytes,
    so the same JSON, so the same values. Without ``recheck`` any mismatch
    is a break.
    """
    entries = iter(records)
    prev, expected = start_prev, start_seq
    sha256 = hashlib.sha256  # bound once: this loop is the hot path
    for seq, digest, stored_hash in entries:
        if seq != expected:
            return _sequence_break(seq, expected, expected - start_seq, entries)
        if sha256(prev + digest).digest() != stored_hash:
            reason = _break_after_recheck(seq, prev, stored_hash, recheck)
            if reason is not None:
                return ChainReport(False, expected - start_seq, seq, reason)
        prev = stored_hash
        expected += 1
    return ChainReport(True, expected - start_seq)


def _break_after_recheck(
    seq: int, prev: bytes, stored_hash: bytes, recheck: Callable[[int], bytes | None] | None
) -> str | None:
    """Why a record whose quick digest did not chain is a break; None if its strict bytes chain."""
    if recheck is None:
        return f"hash mismatch at seq {seq}: record changed"
    strict = recheck(seq)
    if strict is None:
        return f"record {seq} is not canonical JSON"
    if chain_hash(prev, strict) != stored_hash:
        return f"hash mismatch at seq {seq}: record changed"
    return None


def _sequence_break(
    seq: object, expected: int, checked: int, rest: Iterator[tuple[Any, ...]]
) -> ChainReport:
    if not isinstance(seq, int) or isinstance(seq, bool):
        return ChainReport(False, checked, expected, f"record after seq {expected - 1} has no seq")
    if seq == expected - 1:
        return ChainReport(False, checked, seq, f"duplicate seq {seq}: record inserted")
    if seq < expected:
        return ChainReport(
            False, checked, seq, f"seq {seq} after seq {expected - 1}: records reordered"
        )
    return _gap_or_swap(seq, expected, checked, rest)


def _gap_or_swap(
    seq: int, expected: int, checked: int, rest: Iterator[tuple[Any, ...]]
) -> ChainReport:
    # A jump ahead is a removal unless the skipped seq turns up right after,
    # which means two neighbours traded places. A record moved further away
    # is reported as missing where it belongs: still the right place to look.
    following = next(rest, None)
    if following is not None and isinstance(following[0], int) and following[0] < seq:
        return ChainReport(
            False, checked, seq, f"seq {seq} before seq {following[0]}: records reordered"
        )
    if seq == expected + 1:
        return ChainReport(False, checked, expected, f"record {expected} missing")
    return ChainReport(False, checked, expected, f"records {expected} to {seq - 1} missing")


def hash_records(
    records: Iterable[Mapping[str, object]], start_prev: bytes = GENESIS
) -> Iterator[bytes]:
    """Chain hashes for records in order: what the writer stores beside each one."""
    prev = start_prev
    for record in records:
        prev = chain_hash(prev, canonical_json(record))
        yield prev
