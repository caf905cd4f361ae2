"""Legal holds and retention periods: a held subject is stored and secured, never destroyed.

Compliance and data officers place a hold on a subject (an open-ended legal
hold, or a retention period that ends on a date) and release it with a
reason; auditors see them too. When the last hold on a subject with a pending
deletion ends, the deletion is enqueued again and runs to its certificate
(the beat job `release_expired_holds` does this for holds that simply run
out).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, or_, select

from service.access.service import Actor, require_permission, usernames
from service.audit.service import Event, record
from service.clock import aware, iso
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Conflict, Invalid, NotFound
from service.jobs import enqueue_job
from service.vault.models import DeletionRequest, LegalHold
from service.vault.service import (
    clean_subject_fields,
    find_duplicate,
    lookup_terms,
    subject_status,
)
from service.vault.shredding import SHRED_JOB, active_holds

HOLD_KINDS = ("legal_hold", "retention")
HOLD_STATES = ("active", "released", "all")
REASON_MAX = 200


def place_hold(
    deps: Deps,
    actor: Actor,
    subject: str | None,
    kind: str,
    reason: str,
    until: datetime | None,
    identify: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Put a subject under a legal hold (open-ended) or a retention period (until a date).

    The subject is named by its pseudonym or, as a court order names a person,
    by ``identify`` (id_type and id_number, or mobile), found through the blind
    index and never stored; such a lookup is audited whether it finds anyone
    or not. A retention period needs its end; either kind's end, when given,
    is in the future. A subject already destroyed has nothing left to hold.
    """
    require_permission(actor, "hold.manage")
    if subject is not None and identify:
        raise Invalid.field(
            "subject", "give either the subject's pseudonym or their identity, not both"
        )
    if subject is None and not identify:
        raise Invalid.field(
            "subject", "give the subject's pseudonym, or id_type and id_number, or mobile"
        )
    cleaned = clean_subject_fields(identify, partial=True) if identify else None
    if cleaned is not None and not lookup_terms(cleaned):
        raise Invalid.field("id_number", "give id_type and id_number, or mobile")
    if kind not in HOLD_KINDS:
        raise Invalid.field("kind", f"must be one of {', '.join(HOLD_KINDS)}")
    _check_reason(reason)
    now = deps.now()
    if until is None and kind == "retention":
        raise Invalid.field("until", "a retention period needs the date it ends")
    if until is not None and aware(until) <= now:
        raise Invalid.field("until", "must be in the future")
    with deps.unit_of_work() as uow:
        if cleaned is not None:
            subject = _identified(uow, deps, actor, cleaned, now)
        assert subject is not None
        if subject_status(uow, subject) == "shredded":
            raise Conflict(f"subject {subject} was deleted; nothing is left to hold")
        hold = LegalHold(
            id=str(uuid.uuid4()),
            subject=subject,
            kind=kind,
            reason=reason,
            placed_by=actor.id,
            placed_at=now,
            until=until,
        )
        uow.session.add(hold)
        record(
            uow.session,
            actor,
            Event(
                action="subject.hold",
                subject=subject,
                reason=reason,
                detail={"hold": hold.id, "kind": kind}
                | ({"identified_by": sorted(cleaned)} if cleaned else {}),
            ),
            now,
        )
        uow.commit()
        return _view(hold, actor.username, now)


def _identified(
    uow: UnitOfWork, deps: Deps, actor: Actor, cleaned: dict[str, str], now: datetime
) -> str:
    """The live subject these ID fields name; a miss is recorded and committed, then a 404."""
    found = find_duplicate(uow, deps.keys, cleaned)
    if found is None:
        record(
            uow.session,
            actor,
            Event(
                action="subject.lookup",
                fields=sorted(cleaned),
                purpose="legal hold",
                reason="no customer on record matches",
            ),
            now,
        )
        uow.commit()
        raise NotFound("no customer on record matches")
    return found


def release_hold(deps: Deps, actor: Actor, hold_id: str, reason: str) -> dict[str, Any]:
    """End a hold now, with the reason; says how many pending deletions were enqueued again."""
    require_permission(actor, "hold.manage")
    _check_reason(reason)
    now = deps.now()
    with deps.unit_of_work() as uow:
        hold = uow.session.get(LegalHold, hold_id, with_for_update=True)
        if hold is None:
            raise NotFound(f"no hold {hold_id}")
        if hold.released_at is not None:
            raise Conflict(f"hold {hold_id} was already released at {iso(hold.released_at)}")
        hold.released_at = now
        record(
            uow.session,
            actor,
            Event(
                action="subject.hold_released",
                subject=hold.subject,
                reason=reason,
                detail={"hold": hold_id},
            ),
            now,
        )
        resumed = _requeue_unheld(uow, deps, now)
        placed_by = usernames(uow.session, [hold.placed_by]).get(hold.placed_by or 0)
        uow.commit()
        return _view(hold, placed_by, now) | {"deletions_resumed": resumed}


def list_holds(
    deps: Deps,
    actor: Actor,
    subject: str | None = None,
    state: str = "active",
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Holds, newest first, at most ``limit``: in force (`active`), `released`, or `all`.

    A hold past its date counts as released even before the beat job has
    recorded it. Pseudonyms, kinds and reasons only: no personal data values.
    """
    require_permission(actor, "hold.read")
    if state not in HOLD_STATES:
        raise Invalid.field("state", f"must be one of {', '.join(HOLD_STATES)}")
    now = deps.now()
    in_force = and_(
        LegalHold.released_at.is_(None), or_(LegalHold.until.is_(None), LegalHold.until > now)
    )
    query = select(LegalHold).order_by(LegalHold.placed_at.desc(), LegalHold.id).limit(limit)
    if state != "all":
        query = query.where(in_force if state == "active" else not_(in_force))
    if subject is not None:
        query = query.where(LegalHold.subject == subject)
    with deps.db.read_unit_of_work() as uow:
        holds = list(uow.session.scalars(query))
        names = usernames(uow.session, [h.placed_by for h in holds])
        return [_view(h, names.get(h.placed_by or 0), now) for h in holds]


def _state(hold: LegalHold, now: datetime) -> str:
    ended = hold.released_at is not None or (hold.until is not None and aware(hold.until) <= now)
    return "released" if ended else "active"


def _view(hold: LegalHold, placed_by: str | None, now: datetime) -> dict[str, Any]:
    return {
        "id": hold.id,
        "subject": hold.subject,
        "kind": hold.kind,
        "reason": hold.reason,
        "placed_by": placed_by,
        "placed_at": iso(hold.placed_at),
        "until": iso(hold.until),
        "released_at": iso(hold.released_at),
        "active": _state(hold, now) == "active",
    }


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


def _check_reason(reason: str) -> None:
    if not reason.strip() or len(reason) > REASON_MAX:
        raise Invalid.field("reason", f"must be 1-{REASON_MAX} characters")
