"""Streaming the live log as the bytes each record hashes as, for verification.

Verification reads every record, so the cost per record decides how large a
log can be checked. Each record's canonical JSON is rebuilt from its stored
columns (so a changed column breaks the chain), without ORM objects or the
Core result layer:

- on PostgreSQL the server renders it: ``row_to_json`` over the hashed
  columns in sorted key order writes the same bytes as `canonical_json`
  (compact, keys sorted, UTF-8, the same string escapes), and the rows come
  by binary COPY in batches, so the client only hashes;
- on SQLite the raw DBAPI rows are encoded with the C JSON encoder.

The server can splice JSON columns in as they are because `record` stores
them as canonical JSON text. Both encodings are quick and loose: a JSON
column stored in another spelling (a record written before JSON columns were
stored canonically), a timestamp in another format, or a value the fast path
does not know, gives other bytes. The verifier then re-encodes that record
strictly (`StrictEncoding`) before calling it changed, so loose encoding only
ever costs time. A match is as good as the strict encoding: bytes that hash
to the stored hash are the record's canonical JSON, so the columns they were
rendered from hold exactly the values that were hashed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from service.audit.chain import canonical_json
from service.audit.log import HASHED_COLUMNS, iter_entries

FETCH = 20_000
_SORTED = tuple(sorted(HASHED_COLUMNS))
_POSTGRES_VALUES = {
    "at": """to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')""",
    "detail_enc": "nullif(encode(t.detail_enc, 'hex'), '')",
}
_RENDERED = ", ".join(f'{_POSTGRES_VALUES.get(name, "t." + name)} AS "{name}"' for name in _SORTED)
# Both queries are built from the constant column names above, never from input.
_POSTGRES_QUERY = (
    f"SELECT t.seq, row_to_json(r)::text, t.hash FROM audit_records t, LATERAL (SELECT {_RENDERED}) r"  # noqa: S608, E501
    " WHERE t.seq > %s AND t.seq <= %s ORDER BY t.seq"
)
_POSTGRES_BOUNDS = "SELECT min(seq), max(seq) FROM audit_records WHERE seq > %s AND seq <= %s"
_SQLITE_QUERY = (
    f"SELECT {', '.join(HASHED_COLUMNS)}, hash FROM audit_records"  # noqa: S608
    " WHERE seq > ? AND seq <= ? ORDER BY seq"
)
_AT, _FIELDS, _DETAIL, _DETAIL_ENC = (
    HASHED_COLUMNS.index(name) for name in ("at", "fields", "detail", "detail_enc")
)
_NO_LIMIT = 2**63 - 1


def iter_encoded(
    session: Session, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[tuple[int, bytes, bytes]]:
    """``(seq, canonical bytes, stored hash)`` in seq order, on the session's transaction."""
    upto = _NO_LIMIT if upto_seq is None else upto_seq
    raw = session.connection().connection.dbapi_connection
    if session.get_bind().dialect.name == "postgresql":
        return _postgres_rows(raw, after_seq, upto)
    return _sqlite_rows(raw, after_seq, upto)


def _postgres_rows(raw: Any, after_seq: int, upto: int) -> Iterator[tuple[int, bytes, bytes]]:
    # Each batch is a fixed range of seq numbers, not "the next FETCH after x":
    # a bounded range costs the same whatever plan the server picks, while a
    # LIMIT over an open range, on a table the planner has no statistics for
    # yet (a restored or freshly grown log), is a scan and sort of everything
    # after x for every batch. Each batch is read to the end before it is
    # handed on, so the connection is free for a re-check; the next batch is
    # read meanwhile by one helper thread (psycopg serialises the two uses of
    # the connection), so the server renders while the client hashes.
    with raw.cursor() as cursor:
        cursor.execute(_POSTGRES_BOUNDS, (after_seq, upto))
        low, high = cursor.fetchone()
    if low is None:
        return
    ranges = [(start, min(start + FETCH, high)) for start in range(low - 1, high, FETCH)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-read") as reader:
        ahead = reader.submit(_postgres_batch, raw, *ranges[0])
        for following in [*ranges[1:], None]:
            rows = ahead.result()
            if following is not None:
                ahead = reader.submit(_postgres_batch, raw, *following)
            yield from rows


def _postgres_batch(raw: Any, after_seq: int, upto: int) -> list[tuple[int, bytes, bytes]]:
    with raw.cursor() as cursor:
        copy_sql = f"COPY ({_POSTGRES_QUERY}) TO STDOUT (FORMAT BINARY)"
        with cursor.copy(copy_sql, (after_seq, upto)) as copy:
            copy.set_types(["int8", "text", "bytea"])
            return [(seq, canonical.encode(), stored) for seq, canonical, stored in copy.rows()]


def _sqlite_rows(raw: Any, after_seq: int, upto: int) -> Iterator[tuple[int, bytes, bytes]]:
    cursor = raw.cursor()
    try:
        cursor.execute(_SQLITE_QUERY, (after_seq, upto))
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                yield row[0], _loose_canonical(row), row[-1]
    finally:
        cursor.close()


def _loose_canonical(row: tuple[Any, ...]) -> bytes:
    # Not strict: the stored hash comes last and has no name, so it is left out.
    fields = dict(zip(HASHED_COLUMNS, row, strict=False))
    at = row[_AT]
    fields["at"] = at.replace(" ", "T", 1) if isinstance(at, str) else None
    for index in (_FIELDS, _DETAIL):
        text = row[index]
        if text is not None and text != "null":
            try:
                fields[HASHED_COLUMNS[index]] = json.loads(text)
            except (TypeError, ValueError):
                return b""  # not JSON text: the strict re-encoding decides
        else:
            fields[HASHED_COLUMNS[index]] = None
    encrypted = row[_DETAIL_ENC]
    fields["detail_enc"] = bytes(encrypted).hex() if encrypted else None
    try:
        return canonical_json(fields)
    except (TypeError, ValueError):
        return b""


def strict_canonical(session: Session, seq: int) -> bytes | None:
    """One record's canonical bytes the careful way; None if it cannot be encoded."""
    return StrictEncoding(session, run=1)(seq)


class StrictEncoding:
    """Strict canonical bytes by seq, read ahead in runs of records.

    A log written before JSON columns were stored canonically needs the
    strict encoding for most records; reading them one query each would be
    far slower than the plain read this replaces.
    """

    def __init__(self, session: Session, run: int = 2_000) -> None:
        self.session, self.run = session, run
        self._encoded: dict[int, bytes | None] = {}

    def __call__(self, seq: int) -> bytes | None:
        if seq not in self._encoded:
            entries = iter_entries(self.session, seq - 1, seq - 1 + self.run)
            self._encoded = {number: _strict(fields) for number, fields, _ in entries}
        return self._encoded.get(seq)


def _strict(fields: dict[str, Any]) -> bytes | None:
    try:
        return canonical_json(fields)
    except (TypeError, ValueError):
        return None
