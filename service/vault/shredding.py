"""Secure deletion: crypto-shredding, a purge of the key store, removal, a signed certificate.

Each approved deletion walks a state machine kept on its `DeletionRequest`
row, so a worker killed at any point is finished by the redelivered job and
nothing is done twice::

    approved --(hold?)--> held --(hold ends)--> approved
    approved -> key_destroyed -> data_removed -> certified -> completed

Deletions run in batches (`shred_requests`): each step is one transaction for
the whole batch, under row locks taken in id order, so a batch costs a handful
of commits however many subjects it holds. The steps, in order:

1. destroy the data keys (holds checked under the same locks): from that
   commit on, every copy of the subjects' ciphertext (rows, WAL, replicas,
   backups, proof documents, encrypted audit details) is unreadable;
2. purge the key store (`purge_key_store`), once for the batch, so the deleted
   key rows leave its pages and write-ahead log too. It runs whenever a
   request of the batch is at ``key_destroyed``, including one left there by
   a killed worker, so ``data_removed`` and every later state imply that the
   purge ran after the key was deleted;
3. remove the subjects' rows, files and cache entries;
4. sign the certificates (`certificates.issue_all`): only now, after the
   purge, does a certificate say the key is destroyed;
5. resume the waiting cases and mark the requests completed.

A worker's job (`shred_job`) takes its own request and the other pending ones
(up to `BATCH`) into one batch; their own jobs then find them done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, text, update

from service.access.service import SYSTEM, Actor
from service.audit.service import Event, record, record_many
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Conflict, NotFound
from service.notifications import notify_customer
from service.notifications.delivery import confirm_deletions, erase_unsent_of
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
from service.vault.scrubbing import scrub_workflow_state

log = logging.getLogger("datasteward.deletion")
SHRED_JOB = "datasteward.deletion.shred"
RESUME_MESSAGE = "shredding_done"
BATCH = 50
PENDING_STATES = ("approved", "key_destroyed", "data_removed", "certified")
Checkpoint = Callable[[str], None]


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
    with deps.unit_of_work() as uow:
        request = uow.session.get(DeletionRequest, request_id)
        if request is None:
            raise NotFound(f"no deletion request {request_id}")
        if request.subject != subject or request.case_id != case_id:
            raise Conflict(f"deletion request {request_id} is for another subject or case")
    return shred_requests(deps, actor, [request_id], checkpoint)[request_id]


def shred_job(
    deps: Deps, actor: Actor, request_id: str, checkpoint: Checkpoint = _no_checkpoint
) -> str | None:
    """A worker's job: its request and up to `BATCH` - 1 other pending ones, as one batch."""
    with deps.db.read_unit_of_work() as uow:
        state = uow.session.scalar(
            select(DeletionRequest.state).where(DeletionRequest.id == request_id)
        )
        others = uow.session.scalars(
            select(DeletionRequest.id)
            .where(DeletionRequest.state.in_(PENDING_STATES), DeletionRequest.id != request_id)
            .order_by(DeletionRequest.approved_at, DeletionRequest.id)
            .limit(BATCH - 1)
        ).all()
    if state == "completed":  # done in another job's batch
        return certificates.ids_for_requests(deps, [request_id]).get(request_id)
    return shred_requests(deps, actor, [request_id, *others], checkpoint).get(request_id)


def resume_stalled(deps: Deps, actor: Actor, stalled_after: timedelta) -> list[str]:
    """Finish deletions whose job was lost (failed for good, or dropped by a broker).

    A request still pending `stalled_after` past its last step is taken up
    here, with the other pending ones, in one batch; the ones taken up are
    returned. Safe beside live jobs: every step locks its requests.
    """
    cutoff = deps.now() - stalled_after
    with deps.db.read_unit_of_work() as uow:
        stalled = uow.session.scalars(
            select(DeletionRequest.id)
            .where(DeletionRequest.state.in_(PENDING_STATES), DeletionRequest.updated_at < cutoff)
            .order_by(DeletionRequest.updated_at, DeletionRequest.id)
            .limit(BATCH)
        ).all()
    if stalled:
        log.warning("%d deletion requests stalled; finishing them", len(stalled))
        shred_requests(deps, actor, list(stalled))
    return list(stalled)


def shred_requests(
    deps: Deps, actor: Actor, request_ids: list[str], checkpoint: Checkpoint = _no_checkpoint
) -> dict[str, str | None]:
    """Run (or finish) deletions together; each request's certificate id, None while held.

    Idempotent per request: a request in a later state skips the steps it
    has done; one in an earlier state (another worker's) is taken along.
    """
    ids = sorted(set(request_ids))
    checkpoint("before_key_destroyed")
    held, destroyed = _destroy_keys(deps, actor, ids)
    for case_id in held.values():
        _resume_held(deps, case_id)
    checkpoint("after_key_destroyed")
    if destroyed:
        purge_key_store(deps)
    _remove_data(deps, actor, ids, checkpoint)
    checkpoint("after_data_removed")
    issued = certificates.issue_all(deps, actor, ids)
    if issued:
        checkpoint("after_certified")
    _resume_and_complete(deps, ids)
    found = certificates.ids_for_requests(deps, ids)
    return {request_id: found.get(request_id) for request_id in ids}


def _locked_requests(uow: UnitOfWork, ids: list[str], *states: str) -> list[DeletionRequest]:
    return list(
        uow.session.scalars(
            select(DeletionRequest)
            .where(DeletionRequest.id.in_(ids), DeletionRequest.state.in_(states))
            .order_by(DeletionRequest.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def active_holds(uow: UnitOfWork, subject: str, now: datetime) -> list[LegalHold]:
    return _active_holds_of(uow, [subject], now).get(subject, [])


def _destroy_keys(
    deps: Deps, actor: Actor, ids: list[str]
) -> tuple[dict[str, str | None], list[str]]:
    """Crypto-shredding of every unheld request; returns (held: case ids, at key_destroyed).

    A subject under a legal hold or retention period is stored and secured,
    not destroyed. The key store commits before the data database
    (UnitOfWork), so a key is gone before its request says so.
    """
    now = deps.now()
    held: dict[str, str | None] = {}
    with deps.unit_of_work() as uow:
        requests = _locked_requests(uow, ids, "approved", "held", "key_destroyed")
        waiting = [request for request in requests if request.state != "key_destroyed"]
        holds = _active_holds_of(uow, [request.subject for request in waiting], now)
        events, to_destroy = [], []
        for request in waiting:
            if request.subject in holds:
                held[request.id] = request.case_id
                events.extend(_defer(uow, request, holds[request.subject], now))
            else:
                to_destroy.append(request)
        events.extend(_delete_keys(uow, deps, to_destroy, now))
        record_many(uow.session, actor, events, now)
        destroyed = [request.id for request in requests if request.state == "key_destroyed"]
        uow.commit()
    return held, destroyed


def _active_holds_of(
    uow: UnitOfWork, subjects: list[str], now: datetime
) -> dict[str, list[LegalHold]]:
    found: dict[str, list[LegalHold]] = {}
    for hold in uow.session.scalars(
        select(LegalHold).where(
            LegalHold.subject.in_(subjects),
            LegalHold.released_at.is_(None),
            or_(LegalHold.until.is_(None), LegalHold.until > now),
        )
    ):
        found.setdefault(hold.subject, []).append(hold)
    return found


def _defer(
    uow: UnitOfWork, request: DeletionRequest, holds: list[LegalHold], now: datetime
) -> list[Event]:
    if request.state == "held":
        return []
    request.state, request.updated_at = "held", now
    _set_subject_status(uow, request.subject, "held", now)
    reason = "; ".join(f"{hold.kind}: {hold.reason}" for hold in holds)
    return [_event("subject.shred", request, "deferred", reason)]


def _delete_keys(
    uow: UnitOfWork, deps: Deps, requests: list[DeletionRequest], now: datetime
) -> list[Event]:
    if not requests:
        return []
    subjects = [request.subject for request in requests]
    stored = {
        key.subject: key
        for key in uow.keystore.scalars(select(DataKey).where(DataKey.subject.in_(subjects)))
    }
    scrubbed = scrub_workflow_state(uow, deps.keys, stored, now)
    if deps.db.keystore_engine.dialect.name == "sqlite":
        # Overwrite the deleted rows' bytes in the file instead of leaving free pages.
        uow.keystore.execute(text("PRAGMA secure_delete=ON"))
    # The confirmation goes now or never: its sealed number dies with the subject's key.
    confirm_deletions(uow, deps, [r.case_id for r in requests if r.case_id], now)
    erase_unsent_of(uow, subjects, now)
    uow.keystore.execute(delete(DataKey).where(DataKey.subject.in_(subjects)))
    for request in requests:
        count = scrubbed.get(request.subject, 0)
        request.destroyed = dict(request.destroyed or {}, workflow_state_scrubbed=count)
        request.state, request.updated_at, request.key_destroyed_at = "key_destroyed", now, now
        key = stored.get(request.subject)
        request.kek_version = key.kek_version if key else request.kek_version
    return [_event("subject.key_destroyed", request, "done") for request in requests]


def purge_key_store(deps: Deps) -> None:
    """Push deleted keys out of the key store's write-ahead log and pages, for the whole batch."""
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
            conn.exec_driver_sql("VACUUM data_keys, notification_keys")


def _remove_data(deps: Deps, actor: Actor, ids: list[str], checkpoint: Checkpoint) -> None:
    """Delete the (already unreadable) rows, files and cache entries of the batch's subjects."""
    now = deps.now()
    store = LocalFileStore(deps.settings.document_store_dir)
    with deps.unit_of_work() as uow:
        requests = _locked_requests(uow, ids, "key_destroyed")
        if not requests:
            return
        subjects = [request.subject for request in requests]
        documents = _by_subject(
            uow.session.scalars(
                select(SubjectDocument).where(SubjectDocument.subject.in_(subjects))
            )
        )
        files_removed = {}
        for subject, docs in documents.items():
            for doc in docs:
                store.delete(doc.storage_key)  # False when a killed earlier attempt removed it
            # Every listed file is gone now, whichever attempt removed it.
            files_removed[subject] = len(docs)
        checkpoint("after_files_removed")
        fields = _names_by_subject(uow, SubjectField.field, subjects)
        index = _names_by_subject(uow, BlindIndexEntry.kind, subjects)
        for table in (SubjectField, BlindIndexEntry, SubjectDocument):
            uow.session.execute(delete(table).where(table.subject.in_(subjects)))
        uow.session.execute(
            update(Subject)
            .where(Subject.pseudonym.in_(subjects))
            .values(status="shredded", updated_at=now)
        )
        for request in requests:
            subject, docs = request.subject, documents.get(request.subject, [])
            destroyed = dict(request.destroyed or {})
            destroyed.update(
                fields=sorted(fields.get(subject, [])),
                blind_index=sorted(index.get(subject, [])),
                documents=[{"id": d.id, "sha256": d.sha256, "size": d.size} for d in docs],
                document_files_removed=files_removed.get(subject, 0),
                cache_entries_removed=cache.purge_subject(deps.settings, subject),
            )
            request.destroyed, request.state, request.updated_at = destroyed, "data_removed", now
        events = [
            _event("subject.data_removed", r, "done", fields=(r.destroyed or {})["fields"])
            for r in requests
        ]
        record_many(uow.session, actor, events, now)
        uow.commit()


def _by_subject(documents: Any) -> dict[str, list[SubjectDocument]]:
    found: dict[str, list[SubjectDocument]] = {}
    for document in documents:
        found.setdefault(document.subject, []).append(document)
    return found


def _names_by_subject(uow: UnitOfWork, column: Any, subjects: list[str]) -> dict[str, list[str]]:
    table = column.class_
    found: dict[str, list[str]] = {}
    for subject, name in uow.session.execute(
        select(table.subject, column).where(table.subject.in_(subjects))
    ):
        found.setdefault(subject, []).append(name)
    return found


def _resume_held(deps: Deps, case_id: str | None) -> None:
    """The case learns its subject is stored and secured only (its "secured only" path)."""
    from service.cases.service import resume_case

    if case_id:
        resume_case(deps, SYSTEM, case_id, RESUME_MESSAGE, {"outcome": "held"})


def _resume_and_complete(deps: Deps, ids: list[str]) -> None:
    from service.cases.service import resume_case

    with deps.db.read_unit_of_work() as uow:
        certified = uow.session.execute(
            select(DeletionRequest.id, DeletionRequest.case_id).where(
                DeletionRequest.id.in_(ids), DeletionRequest.state == "certified"
            )
        ).all()
    if not certified:
        return
    found = certificates.ids_for_requests(deps, [request_id for request_id, _ in certified])
    for request_id, case_id in certified:
        if case_id:
            # Idempotent: a redelivered job finds the case no longer waiting and changes nothing.
            payload = {"outcome": "shredded", "certificate_id": found.get(request_id)}
            resume_case(deps, SYSTEM, case_id, RESUME_MESSAGE, payload)
    with deps.unit_of_work() as uow:
        now = deps.now()
        for request in _locked_requests(uow, ids, "certified"):
            request.state, request.updated_at = "completed", now
            if request.case_id and _ended_secured_only(uow, request.case_id):
                # The case told the customer their data was kept under a hold and ended
                # there; the deletion that ran once the hold was released is news to them.
                notify_customer(
                    uow, deps.keys, request.subject, "deletion_done", request.case_id, now
                )
        uow.commit()


def _ended_secured_only(uow: UnitOfWork, case_id: str) -> bool:
    from service.cases.models import Case

    return uow.session.scalar(select(Case.outcome).where(Case.id == case_id)) == "secured_only"


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
