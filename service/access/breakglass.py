"""Break-glass: time-boxed emergency access beyond one's branch scope.

Opening it needs a reason and is capped in time; it never lifts separation of
duties, the lane rule or the training gate. While it is open every request the
user makes is flagged in the audit trail ("break_glass.use") for review.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from service.access.models import BreakGlassGrant, User
from service.access.service import Actor
from service.audit.service import Event, record
from service.clock import aware
from service.deps import Deps
from service.errors import Invalid

MAX_MINUTES = 240
MIN_REASON = 10


def open_break_glass(deps: Deps, actor: Actor, reason: str, minutes: int) -> dict[str, Any]:
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise Invalid.field("reason", f"state why, in at least {MIN_REASON} characters")
    if not 1 <= minutes <= MAX_MINUTES:
        raise Invalid.field("minutes", f"must be between 1 and {MAX_MINUTES}")
    now = deps.now()
    with deps.unit_of_work() as uow:
        grant = BreakGlassGrant(
            user_id=actor.id,
            reason=reason[:500],
            started_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        uow.session.add(grant)
        uow.session.flush()
        detail = {"grant_id": grant.id, "minutes": minutes, "flag": "break_glass"}
        record(uow.session, actor, Event("break_glass.open", reason=reason, detail=detail), now)
        uow.commit()
        return _view(grant, actor.username)


def close_break_glass(deps: Deps, actor: Actor) -> None:
    now = deps.now()
    with deps.unit_of_work() as uow:
        uow.session.execute(
            update(BreakGlassGrant)
            .where(
                BreakGlassGrant.user_id == actor.id,
                BreakGlassGrant.ended_at.is_(None),
                BreakGlassGrant.expires_at > now,
            )
            .values(ended_at=now)
        )
        record(uow.session, actor, Event("break_glass.close", detail={"flag": "break_glass"}), now)
        uow.commit()


def flag_use(deps: Deps, actor: Actor, method: str, path: str) -> None:
    """One flagged audit record per request made under break-glass."""
    detail = {"grant_id": actor.break_glass_id, "method": method, "path": path[:200]}
    with deps.unit_of_work() as uow:
        record(uow.session, actor, Event("break_glass.use", detail=detail), deps.now())
        uow.commit()


def break_glass_report(deps: Deps, actor: Actor) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(BreakGlassGrant, User.username)
            .join(User, User.id == BreakGlassGrant.user_id)
            .order_by(BreakGlassGrant.started_at.desc())
            .limit(500)
        ).all()
        record(uow.session, actor, Event("break_glass.report"), deps.now())
        uow.commit()
        return [_view(grant, username) for grant, username in rows]


def _view(grant: BreakGlassGrant, username: str) -> dict[str, Any]:
    return {
        "id": grant.id,
        "username": username,
        "reason": grant.reason,
        "started_at": aware(grant.started_at).isoformat(),
        "expires_at": aware(grant.expires_at).isoformat(),
        "ended_at": aware(grant.ended_at).isoformat() if grant.ended_at else None,
    }
