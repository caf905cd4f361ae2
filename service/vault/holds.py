"""Legal holds and retention periods: a held subject is stored and secured, never destroyed.

When the last hold on a subject with a pending deletion ends, the deletion is
enqueued again and runs to its certificate (the beat job
`release_expired_holds` does this for holds that simply run out).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from service.access.service import Actor
from service.audit.service import Event, record
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Forbidden, Invalid, NotFound
from service.jobs import enqueue_job
from service.vault.models import DeletionRequest, LegalHold
from service.vault.service import subject_status
from service.vault.shredding import SHRED_JOB, active_holds

HOLD_ROLES = frozenset({"compliance", "data_officer"})
HOLD_KINDS = ("legal_hold", "retention")


def place_hold(
    deps: Deps, actor: Actor, subject: str, kind: str, reason: str, until: datetime | None
) -> str:
    """Put a subject under a legal hold (open-ended) or a retention period (until a date)."""
    _check_role(actor)
    if kind not in HOLD_KINDS:
        raise Invalid.field("kind", f"must be one of {', '.join(HOLD_KINDS)}")
    if not reason.strip() or len(reason) > 200:
        raise Invalid.field("reason", "must be 1-200 characters")
    now = deps.now()
    with deps.unit_of_work() as uow:
        subject_status(uow, subject)
        hold_id = str(uuid.uuid4())
        uow.session.add(
            LegalHold(
                id=hold_id,
                subject=subject,
                kind=kind,
                reason=reason,
                placed_by=actor.id,
                placed_at=now,
                until=until,
            )
        )
        record(
            uow.session,
            actor,
            Event(
                action="subject.hold",
                subject=subject,
                reason=reason,
                detail={"hold": hold_id, "kind": kind},
            ),
            now,
        )
        uow.commit()
        return hold_id


def release_hold(deps: Deps, actor: Actor, hold_id: str) -> int:
    """End a hold now; returns how many pending deletions were enqueued again."""
    _check_role(actor)
    now = deps.now()
    with deps.unit_of_work() as uow:
        hold = uow.session.get(LegalHold, hold_id)
        if hold is None or hold.released_at is not None:
            raise NotFound(f"no active hold {hold_id}")
        hold.released_at = now
        record(
            uow.session,
            actor,
            Event(action="subject.hold_released", subject=hold.subject, detail={"hold": hold_id}),
            now,
        )
        resumed = _requeue_unheld(uow, deps, now)
        uow.commit()
        return resumed


def release_expired_holds(deps: Deps, actor: Actor) -> int:
    """Beat job: end holds whose date has passed, and restart the deletions they held."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        expired = uow.session.scalars(
            select(LegalHold).where(LegalHold.released_at.is_(None), LegalHold.until <= now)
        )
        for hold in expired:
            hold.released_at = now
            record(
                uow.session,
                actor,
                Event(
                    action="subject.hold_expired", subject=hold.subject, detail={"hold": hold.id}
                ),
                now,
            )
        resumed = _requeue_unheld(uow, deps, now)
        uow.commit()
        return resumed


def _requeue_unheld(uow: UnitOfWork, deps: Deps, now: datetime) -> int:
    uow.session.flush()
    held = list(uow.session.scalars(select(DeletionRequest).where(DeletionRequest.state == "held")))
    resumed = 0
    for request in held:
        if not active_holds(uow, request.subject, now):
            request.state, request.updated_at = "approved", now
            enqueue_job(uow, deps, SHRED_JOB, {"request_id": request.id})
            resumed += 1
    return resumed


def _check_role(actor: Actor) -> None:
    if not actor.roles & (HOLD_ROLES | {"system"}):
        raise Forbidden(f"holds are placed and released by {sorted(HOLD_ROLES)}")
