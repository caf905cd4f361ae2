"""The vault's use cases: the only code that reads or writes personal data.

Every value is encrypted under its subject's own data key before it reaches
the database; the data key lives only wrapped, in the separate key store.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from service.db import UnitOfWork
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.vault.blind_index import blind_index, id_number_kind, normalise_mobile
from service.vault.crypto import decrypt_field, encrypt_field, new_data_key
from service.vault.keys import VaultKeys
from service.vault.masking import mask_value
from service.vault.models import BlindIndexEntry, DataKey, Subject, SubjectField
from service.vault.validation import ValidationFailed, validate_subject_fields

SUBJECT_PREFIX = "sub_"
PERSONAL_FIELDS = ("name", "id_type", "id_number", "mobile", "address")
DETAIL_FIELD = "audit:detail"
_SUBJECTS: Table = Subject.__table__  # type: ignore[assignment]
_FIELDS: Table = SubjectField.__table__  # type: ignore[assignment]
_BLIND_INDEX: Table = BlindIndexEntry.__table__  # type: ignore[assignment]
_DATA_KEYS: Table = DataKey.__table__  # type: ignore[assignment]


def new_pseudonym() -> str:
    return SUBJECT_PREFIX + secrets.token_hex(16)


def clean_subject_fields(fields: Mapping[str, Any], *, partial: bool = False) -> dict[str, str]:
    """Validate personal fields; a failure is a 422 naming each field, nothing stored.

    ``partial`` for a lookup or change that names only some fields.
    """
    options: dict[str, Any] = {"required": ()} if partial else {}
    try:
        cleaned, _warnings = validate_subject_fields(dict(fields), **options)
    except ValidationFailed as failure:
        raise Invalid(
            "personal data failed validation",
            details=[{"field": e.field, "reason": e.reason} for e in failure.errors],
        ) from None
    return cleaned


def store_draft(
    uow: UnitOfWork,
    keys: VaultKeys,
    fields: Mapping[str, str],
    now: datetime,
    subject: str | None = None,
) -> str:
    """Store collected fields for a new (or the same draft) subject; returns its pseudonym."""
    fresh = subject is None
    if subject is None:
        subject = new_pseudonym()
        data_key = _create_subject(uow, keys, subject, now)
        version = 1
    else:
        version = _bump_version(uow, subject, now, allowed=("draft",))
        data_key = _data_key(uow, keys, subject)
    # A fresh pseudonym has no rows to replace.
    _write_fields(uow, data_key, subject, fields, version, replace=not fresh)
    _write_blind_index(uow, keys, subject, fields, replace=not fresh)
    return subject


def enter_subject(uow: UnitOfWork, subject: str, now: datetime) -> None:
    """The collection's "enter into the system": the draft record becomes the live one.

    Two collection cases for the same person can both reach entry (the check at
    the form sees only live records); the second is refused here, so a person
    never has two live records (a deletion would miss the other): its digests
    go live, and the unique index over live digests refuses a twin, even one
    committing at the same moment. One statement on PostgreSQL.
    """
    connection = uow.session.connection()
    params = {"subject": subject, "now": now}
    try:
        if connection.dialect.name == "postgresql":
            result = connection.execute(_ENTER_LIVE, params)
        else:
            connection.execute(_GO_LIVE, params)
            result = connection.execute(_ENTER, params)
    except IntegrityError:
        # The index says a live record has one of these digests, not which (on SQLite);
        # both are named: a shared mobile number is another person as often as not.
        reason = "a live record with this ID number or mobile number was entered meanwhile"
        raise Conflict(
            f"{reason} (by another case); check with the customer, then reject or return this one",
            details=[{"field": name, "reason": reason} for name in ("id_number", "mobile")],
        ) from None
    if result.rowcount != 1:
        raise Conflict(f"subject {subject} is not a draft awaiting entry")
    # Core, past the ORM: a Subject this session holds reads its new status afresh.
    held = uow.session.identity_map.get(uow.session.identity_key(Subject, subject))
    if held is not None:
        uow.session.expire(held, ["status"])
    uow.session.info.setdefault(_ENTERED, set()).add(subject)


_ENTER = (
    update(_SUBJECTS)
    .where(_SUBJECTS.c.pseudonym == bindparam("subject"), _SUBJECTS.c.status == "draft")
    .values(status="active", updated_at=bindparam("now"))
)
_GO_LIVE = text("UPDATE blind_index SET live = true WHERE subject = :subject")
_ENTER_LIVE = text(
    "WITH went_live AS (UPDATE blind_index SET live = true WHERE subject = :subject) "
    "UPDATE subjects SET status = 'active', updated_at = :now "
    "WHERE pseudonym = :subject AND status = 'draft'"
)
# Key of the session's set of subjects entered in its open transaction.
_ENTERED = "vault.entered"


def discard_draft(uow: UnitOfWork, subject: str) -> None:
    """A collection that ends without entry leaves nothing: key destroyed, rows removed.

    A subject entered in this very transaction is no draft: nothing to read.
    """
    if subject in uow.session.info.get(_ENTERED, ()):
        return
    status = uow.session.scalar(select(Subject.status).where(Subject.pseudonym == subject))
    if status != "draft":
        return
    uow.keystore.execute(delete(DataKey).where(DataKey.subject == subject))
    for table in (SubjectField, BlindIndexEntry):
        uow.session.execute(delete(table).where(table.subject == subject))
    uow.session.execute(delete(Subject).where(Subject.pseudonym == subject))


def read_fields(
    uow: UnitOfWork, keys: VaultKeys, subject: str, fields: Iterable[str] | None = None
) -> dict[str, str]:
    """Decrypted values. Callers must have a stated reason (grant, own review) and audit it."""
    if subject_status(uow, subject) == "held":
        # PIPL Art. 47: data that may not be deleted yet is stored and secured, not used.
        raise Forbidden(f"subject {subject} is under a hold: stored and secured only")
    return _decrypt_all(uow, keys, subject, fields)


def read_masked(uow: UnitOfWork, keys: VaultKeys, subject: str) -> dict[str, str]:
    """Values as they leave the vault by default: masked by the one masking rule set."""
    return masked(_decrypt_all(uow, keys, subject))


def masked(values: dict[str, str]) -> dict[str, str]:
    """Subject values masked by the one masking rule set (the ID type is no secret)."""
    return {
        name: value if name == "id_type" else mask_value(name, value)
        for name, value in values.items()
    }


def values_for_erasure(uow: UnitOfWork, keys: VaultKeys, subject: str) -> dict[str, str]:
    """Decrypted values for secure deletion only: to find copies that must be erased.

    Unlike read_fields this works for a held subject too; nothing leaves the vault.
    """
    return _decrypt_all(uow, keys, subject)


def encrypt_detail(uow: UnitOfWork, keys: VaultKeys, subject: str, detail: dict) -> bytes:
    """Encrypt an audit record's detail (an update's before/after) under the subject's key.

    The detail is then shredded with the subject: once the key is destroyed,
    archived audit records still verify (the chain hashes the ciphertext) but
    no longer reveal anything.
    """
    plaintext = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    return encrypt_field(
        _data_key(uow, keys, subject), plaintext, subject=subject, field=DETAIL_FIELD, version=0
    )


def decrypt_detail(uow: UnitOfWork, keys: VaultKeys, subject: str, blob: bytes) -> dict:
    """The detail encrypt_detail sealed; NotFound once the subject has been shredded."""
    data_key = _data_key(uow, keys, subject)
    plaintext = decrypt_field(data_key, blob, subject=subject, field=DETAIL_FIELD, version=0)
    detail: dict = json.loads(plaintext)
    return detail


def find_duplicate(uow: UnitOfWork, keys: VaultKeys, fields: Mapping[str, str]) -> str | None:
    """A live subject with the same ID number or mobile, found through the blind index only."""
    match = find_match(uow, keys, fields)
    return match[0] if match else None


def find_match(
    uow: UnitOfWork, keys: VaultKeys, fields: Mapping[str, str]
) -> tuple[str, str] | None:
    """(subject, the blind-index kind that matched) for a live subject, ID number first."""
    terms = [
        (kind, blind_index(keys.blind_index_key, kind, normalised))
        for kind, normalised in lookup_terms(fields)
    ]
    if not terms:
        return None
    # One statement for every term; the first term (ID number before mobile) wins.
    parameters = {
        f"{part}_{n}": value
        for n, term in enumerate(terms)
        for part, value in zip(("kind", "digest"), term, strict=True)
    }
    rows = uow.session.connection().execute(_duplicates_query(len(terms)), parameters).all()
    found = {(row.kind, row.digest): row.subject for row in rows}
    return next(((found[term], term[0]) for term in terms if term in found), None)


_DUPLICATES: dict[int, Select[Any]] = {}


def _duplicates_query(terms: int) -> Select[Any]:
    """Blind-index entries of live subjects matching any of ``terms`` (kind, digest) pairs.

    Built once per number of terms (one or two) and run on the connection:
    no ORM on this path, which every collection form takes.
    """
    query = _DUPLICATES.get(terms)
    if query is None:
        index = _BLIND_INDEX.c
        query = _DUPLICATES[terms] = (
            select(index.kind, index.digest, index.subject)
            .join(_SUBJECTS, _SUBJECTS.c.pseudonym == index.subject)
            .where(
                or_(
                    *(
                        and_(
                            index.kind == bindparam(f"kind_{n}"),
                            index.digest == bindparam(f"digest_{n}"),
                        )
                        for n in range(terms)
                    )
                ),
                _SUBJECTS.c.status.in_(("active", "held")),
            )
        )
    return query


def lookup_terms(fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """(kind, normalised value) pairs to look up, from cleaned fields."""
    terms = []
    if fields.get("id_number") and fields.get("id_type"):
        terms.append((id_number_kind(fields["id_type"]), fields["id_number"]))
    if fields.get("mobile"):
        terms.append(("mobile", normalise_mobile(fields["mobile"])))
    return terms


def _decrypt_all(
    uow: UnitOfWork, keys: VaultKeys, subject: str, fields: Iterable[str] | None = None
) -> dict[str, str]:
    data_key = _data_key(uow, keys, subject)
    query = select(SubjectField).where(SubjectField.subject == subject)
    if fields is not None:
        query = query.where(SubjectField.field.in_(list(fields)))
    return {
        row.field: decrypt_field(
            data_key, row.ciphertext, subject=subject, field=row.field, version=row.record_version
        ).decode("utf-8")
        for row in uow.session.scalars(query)
    }


def find_subject(uow: UnitOfWork, keys: VaultKeys, kind: str, normalised: str) -> str | None:
    digest = blind_index(keys.blind_index_key, kind, normalised)
    return uow.session.scalar(
        select(BlindIndexEntry.subject).where(
            BlindIndexEntry.kind == kind, BlindIndexEntry.digest == digest
        )
    )


def subject_status(uow: UnitOfWork, subject: str) -> str:
    status = uow.session.scalar(select(Subject.status).where(Subject.pseudonym == subject))
    if status is None:
        raise NotFound(f"no subject {subject}")
    return status


def _create_subject(uow: UnitOfWork, keys: VaultKeys, subject: str, now: datetime) -> bytes:
    """The subject's row and its wrapped data key, written now (Core: no flush to wait for)."""
    data_key = new_data_key()
    kek_version, wrapped = keys.keyring.wrap(data_key)
    uow.keystore.connection().execute(
        insert(_DATA_KEYS),
        {"subject": subject, "kek_version": kek_version, "wrapped_key": wrapped, "created_at": now},
    )
    uow.session.connection().execute(
        insert(_SUBJECTS),
        {
            "pseudonym": subject,
            "status": "draft",
            "record_version": 1,
            "created_at": now,
            "updated_at": now,
        },
    )
    return data_key


def _bump_version(uow: UnitOfWork, subject: str, now: datetime, allowed: tuple[str, ...]) -> int:
    row = uow.session.scalar(select(Subject).where(Subject.pseudonym == subject))
    if row is None:
        raise NotFound(f"no subject {subject}")
    if row.status not in allowed:
        raise Conflict(f"subject {subject} is {row.status}")
    row.record_version += 1
    row.updated_at = now
    return row.record_version


def data_key_of(uow: UnitOfWork, keys: VaultKeys, subject: str) -> bytes:
    """The subject's unwrapped data key, for the vault's own modules only."""
    return _data_key(uow, keys, subject)


def _data_key(uow: UnitOfWork, keys: VaultKeys, subject: str) -> bytes:
    stored = uow.keystore.get(DataKey, subject)
    if stored is None:
        raise NotFound(f"subject {subject} has no data key (shredded or never created)")
    return keys.keyring.unwrap(stored.kek_version, stored.wrapped_key)


def _write_fields(
    uow: UnitOfWork,
    data_key: bytes,
    subject: str,
    fields: Mapping[str, str],
    version: int,
    *,
    replace: bool = True,
) -> None:
    if replace:
        uow.session.execute(delete(SubjectField).where(SubjectField.subject == subject))
    rows = [
        {
            "subject": subject,
            "field": name,
            "record_version": version,
            "ciphertext": encrypt_field(
                data_key, value, subject=subject, field=name, version=version
            ),
        }
        for name, value in fields.items()
    ]
    if rows:
        uow.session.connection().execute(insert(_FIELDS), rows)


def _write_blind_index(
    uow: UnitOfWork,
    keys: VaultKeys,
    subject: str,
    fields: Mapping[str, str],
    *,
    replace: bool = True,
    live: bool = False,
) -> None:
    entries: dict[str, str] = {}
    if fields.get("id_number") and fields.get("id_type"):
        kind = id_number_kind(fields["id_type"])
        entries[kind] = blind_index(keys.blind_index_key, kind, fields["id_number"])
    if fields.get("mobile"):
        entries["mobile"] = blind_index(
            keys.blind_index_key, "mobile", normalise_mobile(fields["mobile"])
        )
    if replace:
        uow.session.execute(delete(BlindIndexEntry).where(BlindIndexEntry.subject == subject))
    rows = [
        {"subject": subject, "kind": k, "digest": digest, "live": live}
        for k, digest in entries.items()
    ]
    if rows:
        uow.session.connection().execute(insert(_BLIND_INDEX), rows)


def reindex(uow: UnitOfWork, keys: VaultKeys, subject: str) -> None:
    """Rebuild a subject's blind-index entries from its current values (after a change)."""
    _write_blind_index(uow, keys, subject, _decrypt_all(uow, keys, subject), live=True)
