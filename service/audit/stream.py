"""Streaming the live log as each record's digest, for verification.

Verification reads every record, so the cost per record decides how large a
log can be checked. Each record's canonical JSON is rebuilt from its stored
columns (so a changed column breaks the chain) and hashed to its record
digest (`service.audit.chain`), without ORM objects or the Core result layer:

- on PostgreSQL the server renders and digests it: ``row_to_json`` over the
  hashed columns in sorted key order writes the same bytes as
  `canonical_json` (compact, keys sorted, UTF-8, the same string escapes),
  and ``sha256`` of those bytes is all that crosses the wire. A record
  whose strings need no escape (nearly all) is rendered by plain
  concatenation instead, the same bytes for less server time. Two reader
  connections, sharing one snapshot of the log, render alternate ranges of
  seq numbers, so both cores work while the client chains the digests;
- on SQLite the raw DBAPI rows are encoded with the C JSON encoder and
  hashed here.

The server can splice JSON columns in as they are because `record` stores
them as canonical JSON text. Both encodings are quick and loose: a JSON
column stored in another spelling (a record written before JSON columns were
stored canonically), a timestamp in another format, or a value the fast path
does not know, gives other bytes. The verifier then re-encodes that record
strictly (`StrictEncoding`) before calling it changed, so loose encoding only
ever costs time. A match is as good as the strict encoding: bytes that hash
to the stored hash are the record's canonical JSON, so the columns they were
rendered from hold exactly the values that were hashed.

The server digesting the records it stores does not widen what the verifier
trusts: the verifier already takes the column values, and their rendering,
from that server. An independent check of the database server itself is
the offline verification of an exported archive (`service.audit.offline`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.audit.chain import canonical_json
from service.audit.log import HASHED_COLUMNS, iter_entries

FETCH = 10_000
READERS = 2
_SORTED = tuple(sorted(HASHED_COLUMNS))
_POSTGRES_VALUES = {
    "at": """to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')""",
    "detail_enc": "nullif(encode(t.detail_enc, 'hex'), '')",
}
_RENDERED = ", ".join(f'{_POSTGRES_VALUES.get(name, "t." + name)} AS "{name}"' for name in _SORTED)
# Numbers and JSON text are spliced as they are, by row_to_json as by this.
_SPLICED = frozenset({"seq", "actor_id", "fields", "detail"})
# Stored strings that could hold a character JSON escapes (the rendered ones cannot).
_FREE = [name for name in _SORTED if name not in _SPLICED and name not in _POSTGRES_VALUES]


def _plain_rendering() -> str:
    """The canonical JSON for a record whose strings need no escape, as text concatenation.

    ``row_to_json`` looks up how to render each column's type on every row;
    quoting strings that hold no double quote, backslash or control
    character is plain concatenation, and gives the very same bytes, since
    JSON escapes nothing else (nor does `canonical_json`: no ASCII escaping).
    """
    pieces = []
    for number, name in enumerate(_SORTED):
        key = ("{" if number == 0 else ",") + f'"{name}":'
        value = f'r."{name}"::text' if name in _SPLICED else f"""'"' || r."{name}" || '"'"""
        pieces += [f"'{key}'", f"coalesce({value}, 'null')"]
    return " || ".join([*pieces, "'}'"])


_NEEDS_ESCAPE = (
    "(" + " || ".join(f"coalesce(t.{name}, '')" for name in _FREE) + r""") ~ '["\\\x01-\x1f]'"""
)
_CANONICAL = f"CASE WHEN {_NEEDS_ESCAPE} THEN row_to_json(r)::text ELSE {_plain_rendering()} END"
# Both queries are built from the constant column names above, never from input.
_POSTGRES_QUERY = (
    f"SELECT t.seq, sha256(convert_to({_CANONICAL}, 'UTF8')), t.hash"  # noqa: S608
    f" FROM audit_records t, LATERAL (SELECT {_RENDERED}) r"
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

Digested = tuple[int, bytes, bytes]


def iter_digests(
    session: Session, after_seq: int = 0, upto_seq: int | None = None
) -> Iterator[Digested]:
    """``(seq, record digest, stored hash)`` in seq order, as of the session's transaction."""
    upto = _NO_LIMIT if upto_seq is None else upto_seq
    if session.get_bind().dialect.name == "postgresql":
        return _postgres_rows(session, after_seq, upto)
    raw = session.connection().connection.dbapi_connection
    return _sqlite_rows(raw, after_seq, upto)


def _postgres_rows(session: Session, after_seq: int, upto: int) -> Iterator[Digested]:
    # Each batch is a fixed range of seq numbers, not "the next FETCH after x":
    # a bounded range costs the same whatever plan the server picks, while a
    # LIMIT over an open range, on a table the planner has no statistics for
    # yet (a restored or freshly grown log), is a scan and sort of everything
    # after x for every batch. The readers import the session's snapshot
    # (as pg_dump's parallel workers do), so they see one state of the log
    # whatever commits meanwhile; the session's own connection stays free
    # for a strict re-check.
    snapshot = session.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    engine = session.get_bind()
    with ExitStack() as stack:

        def reader() -> Any:
            return _reader(stack.enter_context(engine.connect()), snapshot)  # type: ignore[union-attr]

        readers = [reader()]
        with readers[0].cursor() as cursor:
            cursor.execute(_POSTGRES_BOUNDS, (after_seq, upto))
            low, high = cursor.fetchone()
        if low is None:
            return
        ranges = [(start, min(start + FETCH, high)) for start in range(low - 1, high, FETCH)]
        # A log of one batch is read by one connection: a second would cost more than it saves.
        readers += [reader() for _ in range(min(READERS, len(ranges)) - 1)]
        pool = stack.enter_context(ThreadPoolExecutor(len(readers), "audit-read"))
        ahead: list[Future[list[Digested]]] = []
        for number, bounds in enumerate(ranges):
            ahead.append(pool.submit(_postgres_batch, readers[number % len(readers)], *bounds))
            if len(ahead) > len(readers):
                yield from ahead.pop(0).result()
        for batch in ahead:
            yield from batch.result()


def _reader(connection: Any, snapshot: str) -> Any:
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    return raw


def _postgres_batch(raw: Any, after_seq: int, upto: int) -> list[Digested]:
    with raw.cursor(binary=True) as cursor:
        cursor.execute(_POSTGRES_QUERY, (after_seq, upto))
        return cursor.fetchall()


def _sqlite_rows(raw: Any, after_seq: int, upto: int) -> Iterator[Digested]:
    cursor = raw.cursor()
    sha256 = hashlib.sha256
    try:
        cursor.execute(_SQLITE_QUERY, (after_seq, upto))
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                yield row[0], sha256(_loose_canonical(row)).digest(), row[-1]
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
