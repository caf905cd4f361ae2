"""Proof documents held by a case's own key until the case knows its subject.

A deletion or change request is filed with its proof, but the case learns whose
request it is only when that form is sent. Documents uploaded before then are
encrypted under a fresh per-case document key (wrapped by the KEK, kept in the
key store like a subject's data key) and bound to the case and the document.

When the form names the subject, the documents it lists move under the
subject's data key and the rest are destroyed; when the case ends without a
subject, the case key and every document it holds are destroyed. The case key
is deleted only after the data commits: a failed commit must not leave the
documents' rows pointing at ciphertext whose key is gone.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, SessionTransaction

from service.db import UnitOfWork
from service.errors import NotFound
from service.vault import service as vault
from service.vault.crypto import decrypt_field, encrypt_field, new_data_key
from service.vault.documents import decrypt_document, document_field, encrypt_document
from service.vault.filestore import FileStore
from service.vault.keys import VaultKeys
from service.vault.models import CaseDocument, CaseKey, SubjectDocument

log = logging.getLogger(__name__)
CASE_HOLDER_PREFIX = "case:"


@dataclass(frozen=True)
class Settled:
    """What happened to a case's documents, by document id (ids only, never content)."""

    rekeyed: list[str]
    destroyed: list[str]


def holder(case_id: str) -> str:
    """The name a case-held document's ciphertext is bound to, in place of a pseudonym."""
    return CASE_HOLDER_PREFIX + case_id


def case_key_for_upload(uow: UnitOfWork, keys: VaultKeys, case_id: str, now: datetime) -> bytes:
    """The case's document key, made and stored wrapped on the case's first upload."""
    stored = uow.keystore.get(CaseKey, case_id)
    if stored is not None:
        return keys.keyring.unwrap(stored.kek_version, stored.wrapped_key)
    data_key = new_data_key()
    kek_version, wrapped = keys.keyring.wrap(data_key)
    uow.keystore.add(
        CaseKey(case_id=case_id, kek_version=kek_version, wrapped_key=wrapped, created_at=now)
    )
    return data_key


def encrypt_for_case(data_key: bytes, data: bytes, *, case_id: str, document_id: str) -> bytes:
    return encrypt_field(
        data_key, data, subject=holder(case_id), field=document_field(document_id), version=1
    )


def read_document(
    uow: UnitOfWork, keys: VaultKeys, store: FileStore, document: SubjectDocument | CaseDocument
) -> bytes:
    """A document's plaintext, under its subject's key or, while it has none, its case's."""
    blob = store.get(document.storage_key)
    if isinstance(document, SubjectDocument):
        data_key = vault.data_key_of(uow, keys, document.subject)
        return decrypt_document(data_key, blob, subject=document.subject, document_id=document.id)
    return _decrypt_held(_case_key(uow, keys, document.case_id), blob, document)


def settle_case_documents(
    uow: UnitOfWork,
    keys: VaultKeys,
    store: FileStore,
    case_id: str,
    subject: str,
    listed: Iterable[str],
) -> Settled:
    """The case now has its subject: listed documents move under its key, the others go.

    The re-encrypted documents are written under new storage keys, so until the
    data commits the old files (and the case key) still open the old rows.
    """
    held = _held(uow.session, case_id)
    if not held:
        # No upload committed, so no key either (or one from an upload whose data
        # commit failed, which protects nothing): the common path stays off the key store.
        return Settled([], [])
    wanted = set(listed)
    moving = [document for document in held if document.id in wanted]
    if moving:
        case_key = _case_key(uow, keys, case_id)
        subject_key = vault.data_key_of(uow, keys, subject)
        moved = [_rekey(store, case_key, subject_key, subject, document) for document in moving]
        uow.session.add_all(moved)
        _on_rollback_remove(uow.session, store, [document.storage_key for document in moved])
    _forget(uow, store, held)
    _after_commit_destroy_key(uow, case_id)
    destroyed = [document.id for document in held if document.id not in wanted]
    return Settled([document.id for document in moving], destroyed)


def destroy_case_documents(uow: UnitOfWork, store: FileStore, case_id: str) -> list[str]:
    """The case ends without a subject: its key and every document it holds are destroyed.

    The key goes in this transaction (the key store commits first, so the
    ciphertext is unreadable from then on); the files go after the commit.
    """
    held = _held(uow.session, case_id)
    uow.keystore.execute(delete(CaseKey).where(CaseKey.case_id == case_id))
    _forget(uow, store, held)
    return [document.id for document in held]


def holds_documents(session: Session, case_id: str) -> bool:
    """Whether the case still holds documents under its own key."""
    found = session.scalar(select(CaseDocument.id).where(CaseDocument.case_id == case_id).limit(1))
    return found is not None


def _rekey(
    store: FileStore, case_key: bytes, subject_key: bytes, subject: str, held: CaseDocument
) -> SubjectDocument:
    """The subject's copy of a held document, written to a new file (the old one stays)."""
    data = _decrypt_held(case_key, store.get(held.storage_key), held)
    storage_key = secrets.token_hex(20)
    store.put(
        storage_key, encrypt_document(subject_key, data, subject=subject, document_id=held.id)
    )
    return SubjectDocument(
        id=held.id,
        subject=subject,
        case_id=held.case_id,
        media_type=held.media_type,
        size=held.size,
        sha256=held.sha256,
        storage_key=storage_key,
        uploaded_by=held.uploaded_by,
        uploaded_at=held.uploaded_at,
    )


def _decrypt_held(case_key: bytes, blob: bytes, document: CaseDocument) -> bytes:
    return decrypt_field(
        case_key,
        blob,
        subject=holder(document.case_id),
        field=document_field(document.id),
        version=1,
    )


def _forget(uow: UnitOfWork, store: FileStore, held: list[CaseDocument]) -> None:
    """Drop the held rows now and their files once the data has committed."""
    if not held:
        return
    uow.session.execute(
        delete(CaseDocument).where(CaseDocument.id.in_([document.id for document in held]))
    )
    files = [document.storage_key for document in held]
    uow.after_commit.append(lambda: _remove_files(store, files))


def _held(session: Session, case_id: str) -> list[CaseDocument]:
    return list(
        session.scalars(
            select(CaseDocument)
            .where(CaseDocument.case_id == case_id)
            .order_by(CaseDocument.uploaded_at, CaseDocument.id)
        )
    )


def _case_key(uow: UnitOfWork, keys: VaultKeys, case_id: str) -> bytes:
    stored = uow.keystore.get(CaseKey, case_id)
    if stored is None:
        raise NotFound(f"case {case_id} has no document key (destroyed or never created)")
    return keys.keyring.unwrap(stored.kek_version, stored.wrapped_key)


def _after_commit_destroy_key(uow: UnitOfWork, case_id: str) -> None:
    def destroy() -> None:
        try:
            uow.keystore.execute(delete(CaseKey).where(CaseKey.case_id == case_id))
            uow.keystore.commit()
        except Exception:
            # The data is committed; a key left behind holds no document any more.
            uow.keystore.rollback()
            log.exception("case document key of case %s was not destroyed", case_id)

    uow.after_commit.append(destroy)


def _on_rollback_remove(session: Session, store: FileStore, storage_keys: list[str]) -> None:
    """Files written for a transaction that then rolls back are removed again."""
    if not storage_keys:
        return
    pending = list(storage_keys)

    def rolled_back(_session: Session, previous: SessionTransaction) -> None:
        if not previous.nested:
            _remove_files(store, pending)
            pending.clear()

    def committed(_session: Session) -> None:
        pending.clear()

    # The session lives for one unit of work only, so the listeners go with it.
    event.listen(session, "after_soft_rollback", rolled_back)
    event.listen(session, "after_commit", committed)


def _remove_files(store: FileStore, storage_keys: Iterable[str]) -> None:
    for storage_key in storage_keys:
        try:
            store.delete(storage_key)
        except OSError:
            log.exception("could not remove a document file")
