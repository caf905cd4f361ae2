"""Secure deletion of one subject: crypto-shredding, then removal, then a signed certificate.

`shred_subject` walks a state machine kept on the `DeletionRequest` row, one
transaction per step, so a worker killed at any point is finished by the
redelivered job and nothing is done twice::

    approved --(hold?)--> held --(hold ends)--> approved
    approved -> key_destroyed -> data_removed -> certified -> completed

The data key is destroyed FIRST: from that moment every copy of the subject's
ciphertext (rows, WAL, replicas, backups, proof documents, encrypted audit
details) is unreadable, whatever happens to the rest of the job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, text, update

from service.access.service import SYSTEM, Actor
from service.audit.service import Event, record
from service.cases.models import Case
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Conflict, NotFound
from service.vault import cache, certificates
from service.vault.filestore import LocalFileStore
from service.vault.models import (
    BlindIndexEntry,
    DataKey,
    DeletionRequest,
    LegalHold,
    Subject,
    SubjectDocument,
    SubjectField,
)
from service.vault.service import values_for_erasure

SHRED_JOB = "datasteward.deletion.shred"
RESUME_MESSAGE = "shredding_done"
Checkpoint = Callable[[str], None]
_SHREDDED_MARK = "[shredded]"


def _no_checkpoint(_point: str) -> None:
    return None


def request_shredding(uow: UnitOfWork, now: datetime, subject: str, case_id: str) -> str:
    """Record the approved deletion (once per case and subject); returns the request id."""
    existing = uow.session.scalar(
        select(DeletionRequest.id).where(
            DeletionRequest.subject == subject, DeletionRequest.case_id == case_id
        )
    )
    if existing:
        return existing
    request_id = str(uuid.uuid4())
    uow.session.add(
        DeletionRequest(
            id=request_id,
            subject=subject,
            case_id=case_id,
            state="approved",
            approved_at=now,
            updated_at=now,
        )
    )
    record(
        uow.session,
        SYSTEM,
        Event(action="subject.shred_requested", case_id=case_id, subject=subject),
        now,
    )
    return request_id


def shred_subject(
    deps: Deps,
    actor: Actor,
    subject: str,
    case_id: str | None,
    request_id: str,
    checkpoint: Checkpoint = _no_checkpoint,
) -> str | None:
    """Run (or finish) one approved deletion; returns the certificate id, None while held."""
    state = _state_of(deps, request_id, subject, case_id)
    if state in ("approved", "held"):
        if _defer_if_held(deps, actor, request_id):
            _resume_held(deps, case_id)
            return None
        _scrub_workflow_state(deps, actor, request_id)
        checkpoint("before_key_destroyed")
        _destroy_key(deps, actor, request_id)
        checkpoint("after_key_destroyed")
    if _state_of(deps, request_id, subject, case_id) == "key_destroyed":
        _remove_data(deps, actor, request_id, checkpoint)
        checkpoint("after_data_removed")
    if _state_of(deps, request_id, subject, case_id) == "data_removed":
        certificates.issue(deps, actor, request_id)
        checkpoint("after_certified")
    certificate_id = certificates.id_for_request(deps, request_id)
    if _state_of(deps, request_id, subject, case_id) == "certified":
        _resume_and_complete(deps, request_id, case_id, certificate_id)
    return certificate_id


def _state_of(deps: Deps, request_id: str, subject: str, case_id: str | None) -> str:
    with deps.unit_of_work() as uow:
        request = uow.session.get(DeletionRequest, request_id)
        if request is None:
            raise NotFound(f"no deletion request {request_id}")
        if request.subject != subject or request.case_id != case_id:
            raise Conflict(f"deletion request {request_id} is for another subject or case")
        return request.state


def _locked_request(uow: UnitOfWork, request_id: str) -> DeletionRequest:
    return uow.session.scalars(
        select(DeletionRequest)
        .where(DeletionRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def active_holds(uow: UnitOfWork, subject: str, now: datetime) -> list[LegalHold]:
    return list(
        uow.session.scalars(
            select(LegalHold).where(
                LegalHold.subject == subject,
                LegalHold.released_at.is_(None),
                or_(LegalHold.until.is_(None), LegalHold.until > now),
            )
        )
    )


def _defer_if_held(deps: Deps, actor: Actor, request_id: str) -> bool:
    """A subject under a legal hold or retention period is stored and secured, not destroyed."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        request = _locked_request(uow, request_id)
        holds = active_holds(uow, request.subject, now)
        if not holds:
            return False
        if request.state != "held":
            request.state, request.updated_at = "held", now
            _set_subject_status(uow, request.subject, "held", now)
            reason = "; ".join(f"{hold.kind}: {hold.reason}" for hold in holds)
            record(uow.session, actor, _event("subject.shred", request, "deferred", reason), now)
        uow.commit()
        return True


def _scrub_workflow_state(deps: Deps, actor: Actor, request_id: str) -> None:
    """Verify the subject's cases hold no vault value in their workflow state; scrub any found.

    Workflow data should carry pseudonyms only (design rule 1), so this is
    expected to find nothing; the count goes on the certificate either way.
    """
    now = deps.now()
    with deps.unit_of_work() as uow:
        request = _locked_request(uow, request_id)
        needles = _needles(uow, deps, request.subject)
        scrubbed = 0
        for case in uow.session.scalars(select(Case).where(Case.subject == request.subject)):
            scrubbed += _scrub_case(uow, case, needles, now)
        request.destroyed = dict(request.destroyed or {}, workflow_state_scrubbed=scrubbed)
        uow.commit()


def _needles(uow: UnitOfWork, deps: Deps, subject: str) -> set[str]:
    if uow.keystore.get(DataKey, subject) is None:
        return set()
    values = [
        v for k, v in values_for_erasure(uow, deps.keys, subject).items() if k != "id_type" and v
    ]
    # The state is JSON: look for each value as JSON would write it, either way.
    return {json.dumps(v)[1:-1] for v in values} | {
        json.dumps(v, ensure_ascii=False)[1:-1] for v in values
    }


def _scrub_case(uow: UnitOfWork, case: Case, needles: set[str], now: datetime) -> int:
    found = [needle for needle in needles if needle and needle in case.state]
    if not found:
        return 0
    state = case.state
    for needle in found:
        state = state.replace(needle, _SHREDDED_MARK)
    uow.session.execute(
        update(Case)
        .where(Case.id == case.id, Case.lock_version == case.lock_version)
        .values(state=state, lock_version=case.lock_version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(found)


def _destroy_key(deps: Deps, actor: Actor, request_id: str) -> None:
    """Crypto-shredding: delete the wrapped data key from the key store, overwriting its bytes."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        request = _locked_request(uow, request_id)
        if request.state not in ("approved", "held"):
            return
        stored = uow.keystore.get(DataKey, request.subject)
        if deps.db.keystore_engine.dialect.name == "sqlite":
            # Overwrite the deleted row's bytes in the file instead of leaving a free page.
            uow.keystore.execute(text("PRAGMA secure_delete=ON"))
        uow.keystore.execute(delete(DataKey).where(DataKey.subject == request.subject))
        request.state, request.updated_at, request.key_destroyed_at = "key_destroyed", now, now
        request.kek_version = stored.kek_version if stored else request.kek_version
        record(uow.session, actor, _event("subject.key_destroyed", request, "done"), now)
        uow.commit()  # the key store commits first (UnitOfWork), so the key is gone first
    _flush_keystore_journal(deps)


def _flush_keystore_journal(deps: Deps) -> None:
    """Push the deletion out of the key store's write-ahead log and free space."""
    engine = deps.db.keystore_engine
    if engine.dialect.name == "sqlite":
        # Outside any transaction (a raw connection in autocommit), as SQLite requires.
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM data_keys")


def _remove_data(deps: Deps, actor: Actor, request_id: str, checkpoint: Checkpoint) -> None:
    """Delete the (already unreadable) rows, files and cache entries of the subject."""
    now = deps.now()
    store = LocalFileStore(deps.settings.document_store_dir)
    with deps.unit_of_work() as uow:
        request = _locked_request(uow, request_id)
        if request.state != "key_destroyed":
            return
        subject = request.subject
        documents = list(
            uow.session.scalars(select(SubjectDocument).where(SubjectDocument.subject == subject))
        )
        files_removed = sum(store.delete(doc.storage_key) for doc in documents)
        checkpoint("after_files_removed")
        destroyed = dict(request.destroyed or {})
        destroyed.update(
            fields=sorted(
                uow.session.scalars(
                    select(SubjectField.field).where(SubjectField.subject == subject)
                )
            ),
            blind_index=sorted(
                uow.session.scalars(
                    select(BlindIndexEntry.kind).where(BlindIndexEntry.subject == subject)
                )
            ),
            documents=[{"id": d.id, "sha256": d.sha256, "size": d.size} for d in documents],
            document_files_removed=files_removed,
            cache_entries_removed=cache.purge_subject(deps.settings, subject),
        )
        for table in (SubjectField, BlindIndexEntry, SubjectDocument):
            uow.session.execute(delete(table).where(table.subject == subject))
        _set_subject_status(uow, subject, "shredded", now)
        request.destroyed, request.state, request.updated_at = destroyed, "data_removed", now
        record(
            uow.session,
            actor,
            _event("subject.data_removed", request, "done", fields=destroyed["fields"]),
            now,
        )
        uow.commit()


def _resume_held(deps: Deps, case_id: str | None) -> None:
    """The case learns its subject is stored and secured only (its "secured only" path)."""
    from service.cases.service import resume_case

    if case_id:
        resume_case(deps, SYSTEM, case_id, RESUME_MESSAGE, {"outcome": "held"})


def _resume_and_complete(
    deps: Deps, request_id: str, case_id: str | None, certificate_id: str | None
) -> None:
    from service.cases.service import resume_case

    if case_id:
        # Idempotent: a redelivered job finds the case no longer waiting and changes nothing.
        resume_case(
            deps,
            SYSTEM,
            case_id,
            RESUME_MESSAGE,
            {"outcome": "shredded", "certificate_id": certificate_id},
        )
    with deps.unit_of_work() as uow:
        request = _locked_request(uow, request_id)
        if request.state == "certified":
            request.state, request.updated_at = "completed", deps.now()
        uow.commit()


def _set_subject_status(uow: UnitOfWork, subject: str, status: str, now: datetime | None) -> None:
    values: dict[str, Any] = {"status": status}
    if now is not None:
        values["updated_at"] = now
    uow.session.execute(update(Subject).where(Subject.pseudonym == subject).values(**values))


def _event(
    action: str, request: DeletionRequest, outcome: str, reason: str | None = None, **extra: Any
) -> Event:
    return Event(
        action=action,
        outcome=outcome,
        reason=reason,
        case_id=request.case_id,
        subject=request.subject,
        detail={"deletion_request": request.id},
        **extra,
    )
