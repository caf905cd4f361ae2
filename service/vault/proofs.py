"""Proof documents and subject lookup: the vault's use cases called from the API.

A document is checked by its bytes, encrypted under the subject's data key (or,
before the case knows its subject, its case's document key: see
``case_documents``) and written to the file store; the database keeps only its
id, type, size and the SHA-256 of the plaintext (which also goes into the audit
trail).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.access.service import REVIEW_ROLES, SYSTEM, Actor
from service.audit.service import Event, Refusal, record, record_many, records_refusals
from service.cases import duties
from service.cases.models import Case, Task, lock_case
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.vault import case_documents
from service.vault import service as vault
from service.vault.documents import DocumentRejected, check_document, encrypt_document
from service.vault.filestore import LocalFileStore
from service.vault.models import CaseDocument, SubjectDocument

LOOKUP_ROLES = frozenset({"front_desk", "reviewer", "data_officer"})


@records_refusals
def upload_document(
    deps: Deps, actor: Actor, case_id: str, filename: str, data: bytes
) -> dict[str, Any]:
    """Attach a proof document to a running case the actor works on.

    Under the subject's data key once the case knows its subject; before that
    (a request filed with its proof) under the case's own document key, until
    the request form names the subject.
    """
    now = deps.now()
    try:
        info = check_document(data, filename, deps.settings.max_document_bytes)
    except DocumentRejected as rejected:
        raise Invalid.field("file", rejected.reason) from None
    with deps.unit_of_work() as uow:
        # Locked: the form that names the subject moves the case's documents meanwhile.
        case = lock_case(uow.session, case_id)
        if not _works_on(uow.session, actor, case):
            raise _refusal("document.upload", case, "you have no role in this case")
        if case.status != "running":
            raise Conflict(f"case {case_id} has ended; no document can be attached to it")
        document_id, storage_key = str(uuid.uuid4()), secrets.token_hex(20)
        blob = _encrypt(uow, deps, case, data, document_id, now)
        LocalFileStore(deps.settings.document_store_dir).put(storage_key, blob)
        facts = {
            "id": document_id,
            "case_id": case.id,
            "media_type": info.media_type,
            "size": info.size,
            "sha256": info.sha256_hex,
            "storage_key": storage_key,
            "uploaded_by": actor.id,
            "uploaded_at": now,
        }
        if case.subject:
            uow.session.add(SubjectDocument(subject=case.subject, **facts))
        else:
            uow.session.add(CaseDocument(**facts))
            case.held_documents = True
        record(
            uow.session, actor, _event("document.upload", case, document_id, info.sha256_hex), now
        )
        uow.commit()
    return {
        "id": document_id,
        "media_type": info.media_type,
        "size": info.size,
        "sha256": info.sha256_hex,
        "warnings": list(info.warnings),
    }


def _encrypt(
    uow: UnitOfWork, deps: Deps, case: Case, data: bytes, document_id: str, now: datetime
) -> bytes:
    if case.subject:
        data_key = vault.data_key_of(uow, deps.keys, case.subject)
        return encrypt_document(data_key, data, subject=case.subject, document_id=document_id)
    case_key = case_documents.case_key_for_upload(uow, deps.keys, case.id, now)
    return case_documents.encrypt_for_case(case_key, data, case_id=case.id, document_id=document_id)


@records_refusals
def download_document(deps: Deps, actor: Actor, document_id: str) -> tuple[str, bytes]:
    """The plaintext, for a reviewer who may act on an open review task of the document's case."""
    with deps.unit_of_work() as uow:
        document: SubjectDocument | CaseDocument | None = uow.session.get(
            SubjectDocument, document_id
        ) or uow.session.get(CaseDocument, document_id)
        if document is None or document.case_id is None:
            raise NotFound(f"no document {document_id}")
        case = _case(uow.session, document.case_id)
        reason = _review_refusal(uow.session, actor, case)
        if reason:
            raise _refusal("document.read", case, reason)
        store = LocalFileStore(deps.settings.document_store_dir)
        data = case_documents.read_document(uow, deps.keys, store, document)
        if hashlib.sha256(data).hexdigest() != document.sha256:
            raise Conflict(f"document {document_id} does not match its recorded SHA-256")
        record(
            uow.session,
            actor,
            _event("document.read", case, document.id, document.sha256),
            deps.now(),
        )
        uow.commit()
        return document.media_type, data


def settle_documents(
    uow: UnitOfWork,
    deps: Deps,
    case: Case,
    listed: list[str],
    now: datetime,
    actor: Actor = SYSTEM,
) -> None:
    """The case has just learnt its subject: its case-held documents move or go, audited.

    Listed documents are re-encrypted under the subject's data key; the others
    are destroyed. Called in the transaction of the form that names the subject.
    """
    if not case.subject or not case.held_documents:
        return
    store = LocalFileStore(deps.settings.document_store_dir)
    settled = case_documents.settle_case_documents(
        uow, deps.keys, store, case.id, case.subject, listed
    )
    events = []
    if settled.rekeyed:
        events.append(_batch_event("document.rekey", case, settled.rekeyed))
    if settled.destroyed:
        reason = "not listed in the form that named the subject"
        events.append(_batch_event("document.destroy", case, settled.destroyed, reason))
    record_many(uow.session, actor, events, now)


def destroy_case_documents(
    uow: UnitOfWork, deps: Deps, actor: Actor, case: Case, now: datetime
) -> None:
    """The case ends: documents still held by its own key are destroyed with the key, audited.

    Free when there is nothing to do (a case with a subject that never held a
    document under its own key), one indexed query otherwise: call it at every
    case end. A case without a subject always looks, so a case key left by an
    upload whose data never committed goes with the case.
    """
    if case.subject and (
        not case.held_documents or not case_documents.holds_documents(uow.session, case.id)
    ):
        return
    store = LocalFileStore(deps.settings.document_store_dir)
    destroyed = case_documents.destroy_case_documents(uow, store, case.id)
    if destroyed:
        reason = "the case ended before its subject was known"
        record(uow.session, actor, _batch_event("document.destroy", case, destroyed, reason), now)


@records_refusals
def lookup_subject(deps: Deps, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    """Find a subject by ID number or mobile through the blind index (duplicate check)."""
    if not actor.roles & LOOKUP_ROLES:
        raise Refusal(
            f"subject lookup needs one of {sorted(LOOKUP_ROLES)}",
            Event(
                action="subject.lookup",
                outcome="refused",
                reason="role not allowed to look subjects up",
            ),
        )
    cleaned = vault.clean_subject_fields(fields, partial=True)
    terms = vault.lookup_terms(cleaned)
    if not terms:
        raise Invalid.field("id_number", "give id_type and id_number, or mobile")
    with deps.unit_of_work() as uow:
        found = vault.find_duplicate(uow, deps.keys, cleaned)
        status = vault.subject_status(uow, found) if found else None
        record(
            uow.session,
            actor,
            Event(
                action="subject.lookup",
                subject=found,
                fields=sorted(cleaned),
                purpose="duplicate check",
            ),
            deps.now(),
        )
        uow.commit()
    return {"found": found is not None, "subject": found, "status": status}


def _case(session: Any, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def _works_on(session: Any, actor: Actor, case: Case) -> bool:
    lanes = set(session.scalars(select(Task.lane).where(Task.case_id == case.id)))
    return case.started_by == actor.id or bool(lanes & actor.roles)


def _review_refusal(session: Any, actor: Actor, case: Case) -> str | None:
    open_reviews = session.scalars(
        select(Task).where(
            Task.case_id == case.id,
            Task.status.in_(("open", "claimed")),
            Task.lane.in_(sorted(REVIEW_ROLES & actor.roles)),
        )
    ).all()
    if not open_reviews:
        return "only a reviewer with an open review task of this case may read its documents"
    try:
        duties.check(session, actor, open_reviews[0], case)
    except Forbidden as refused:
        return refused.message
    return None


def _refusal(action: str, case: Case, reason: str) -> Refusal:
    return Refusal(
        reason,
        Event(
            action=action, outcome="refused", reason=reason, case_id=case.id, subject=case.subject
        ),
    )


def _event(action: str, case: Case, document_id: str, sha256: str) -> Event:
    return Event(
        action=action,
        procedure=case.procedure,
        case_id=case.id,
        subject=case.subject,
        detail={"document": document_id, "sha256": sha256},
    )


def _batch_event(
    action: str, case: Case, document_ids: list[str], reason: str | None = None
) -> Event:
    # Document ids are random; no name, content or hash of a destroyed document is kept.
    return Event(
        action=action,
        procedure=case.procedure,
        case_id=case.id,
        subject=case.subject,
        reason=reason,
        detail={"documents": sorted(document_ids), "count": len(document_ids)},
    )
