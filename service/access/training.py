"""Training records (section 5): who completed which course, and until when it counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service.access.models import TrainingRecord, User, UserRole
from service.access.permissions import REQUIRED_TRAINING, required_courses
from service.access.service import Actor
from service.audit.models import AuditRecord
from service.audit.service import Event, record
from service.clock import aware
from service.deps import Deps
from service.errors import Invalid, NotFound


@dataclass(frozen=True)
class Lapse:
    """A required course the user has no valid record of."""

    course: str
    expired_on: datetime | None  # None: never completed

    @property
    def reason(self) -> str:
        if self.expired_on is None:
            return f"training {self.course} has not been completed"
        return f"training {self.course} expired on {self.expired_on.date().isoformat()}"


def record_required_training(
    session: Session, user_id: int, roles: Iterable[str], now: datetime, until: datetime
) -> None:
    for course in required_courses(roles):
        session.add(_record(user_id, course, now, until, None, now))


def _record(
    user_id: int,
    course: str,
    completed: datetime,
    expires: datetime,
    by: int | None,
    now: datetime,
) -> TrainingRecord:
    return TrainingRecord(
        user_id=user_id,
        course=course,
        completed_at=completed,
        expires_at=expires,
        recorded_by=by,
        recorded_at=now,
    )


# Every request for personal data checks this: built once.
_LATEST = (
    select(TrainingRecord.course, func.max(TrainingRecord.expires_at))
    .where(
        TrainingRecord.user_id == bindparam("user_id"),
        TrainingRecord.course.in_(bindparam("courses", expanding=True)),
    )
    .group_by(TrainingRecord.course)
)


def lapses(session: Session, user_id: int, roles: Iterable[str], now: datetime) -> list[Lapse]:
    """Required courses of these roles without a record valid at `now`; one query."""
    courses = required_courses(roles)
    if not courses:
        return []
    rows = session.connection().execute(_LATEST, {"user_id": user_id, "courses": list(courses)})
    return _lapsed(courses, {course: aware(expires) for course, expires in rows}, now)


def known_lapses(actor: Actor, now: datetime) -> list[Lapse] | None:
    """`lapses` from the expiries read with the actor's credential; None if none were read."""
    if actor.trained_until is None:
        return None
    return _lapsed(required_courses(actor.roles), dict(actor.trained_until), now)


def _lapsed(
    courses: Iterable[str], latest: dict[str, datetime | None], now: datetime
) -> list[Lapse]:
    found = [(course, latest.get(course)) for course in courses]
    return [Lapse(course, expires) for course, expires in found if not expires or expires <= now]


def record_training(
    deps: Deps,
    actor: Actor,
    user_id: int,
    course: str,
    completed_at: datetime,
    valid_days: int,
) -> dict[str, Any]:
    """Record a completed course (admin or compliance); audited."""
    if course not in REQUIRED_TRAINING:
        raise Invalid.field("course", f"unknown course; known: {sorted(REQUIRED_TRAINING)}")
    if not 1 <= valid_days <= 1095:
        raise Invalid.field("valid_days", "must be between 1 and 1095")
    now = deps.now()
    if completed_at > now:
        raise Invalid.field("completed_at", "must not be in the future")
    expires = completed_at + timedelta(days=valid_days)
    with deps.unit_of_work() as uow:
        if uow.session.get(User, user_id) is None:
            raise NotFound(f"no user {user_id}")
        # The command line's operator is no user (id 0): nobody to refer to.
        recorded_by = actor.id or None
        uow.session.add(_record(user_id, course, completed_at, expires, recorded_by, now))
        detail = {"user_id": user_id, "course": course, "expires_at": expires.isoformat()}
        record(uow.session, actor, Event("training.record", detail=detail), now)
        uow.commit()
    return {"user_id": user_id, "course": course, "expires_at": expires.isoformat()}


def training_of(deps: Deps, user_id: int) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        if uow.session.get(User, user_id) is None:
            raise NotFound(f"no user {user_id}")
        rows = uow.session.scalars(
            select(TrainingRecord)
            .where(TrainingRecord.user_id == user_id)
            .order_by(TrainingRecord.completed_at)
        )
        return [
            {
                "course": r.course,
                "completed_at": aware(r.completed_at).isoformat(),
                "expires_at": aware(r.expires_at).isoformat(),
            }
            for r in rows
        ]


def training_report(deps: Deps, actor: Actor, within_days: int = 0) -> list[dict[str, Any]]:
    """Active users whose required training has lapsed (or lapses within `within_days`)."""
    now = deps.now()
    horizon = now + timedelta(days=within_days)
    with deps.unit_of_work() as uow:
        report = []
        for user_id, username, roles in _active_users(uow.session):
            for lapse in lapses(uow.session, user_id, roles, horizon):
                lapsed = lapse.expired_on is None or lapse.expired_on <= now
                report.append(
                    {
                        "user_id": user_id,
                        "username": username,
                        "course": lapse.course,
                        "expires_at": lapse.expired_on.isoformat() if lapse.expired_on else None,
                        "status": "lapsed" if lapsed else "expiring",
                    }
                )
        record(uow.session, actor, Event("training.report", detail={"rows": len(report)}), now)
        uow.commit()
        return report


def _active_users(session: Session) -> list[tuple[int, str, set[str]]]:
    rows = session.execute(
        select(User.id, User.username, UserRole.role)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.active.is_(True))
        .order_by(User.username)
    ).all()
    users: dict[int, tuple[int, str, set[str]]] = {}
    for user_id, username, role in rows:
        users.setdefault(user_id, (user_id, username, set()))[2].add(role)
    return list(users.values())


REMINDER_DAYS = 30


def send_training_reminders(deps: Deps, actor: Actor) -> list[int]:
    """Note, once per user, course, expiry and status, that required training runs out.

    The beat runs this daily; a user is reminded when their training comes
    within REMINDER_DAYS of expiring and once more when it has lapsed, not
    every day (renewed training that nears its new expiry is a new reminder).
    The reminder is an audit record ("training.reminder", ids only, no personal
    data); the user's own task list shows what is due (`my_training`).
    Returns the users reminded now.
    """
    now = deps.now()
    due = [row for row in training_report(deps, actor, REMINDER_DAYS) if row["status"]]
    with deps.unit_of_work() as uow:
        sent = _reminders_sent(uow.session, now)
        reminded = set()
        for row in due:
            detail = {
                "user_id": row["user_id"],
                "course": row["course"],
                "status": row["status"],
                "expires_at": row["expires_at"],
            }
            if _reminder_key(detail) in sent:
                continue
            record(uow.session, actor, Event("training.reminder", detail=detail), now)
            reminded.add(row["user_id"])
        uow.commit()
    return sorted(reminded)


def training_due(actor: Actor, now: datetime) -> list[dict[str, Any]]:
    """The actor's required courses that have lapsed or lapse within REMINDER_DAYS.

    From the credential check's own read (no query): what the task list warns
    its user about before the training gate starts refusing them.
    """
    required = set(required_courses(actor.roles))
    due = []
    for course, until in actor.trained_until or ():
        if course not in required:
            continue
        if until is None or aware(until) <= now:
            due.append(
                {"course": course, "expires_at": None if until is None else until, "lapsed": True}
            )
        elif aware(until) <= now + timedelta(days=REMINDER_DAYS):
            due.append({"course": course, "expires_at": until, "lapsed": False})
    return due


def _reminders_sent(session: Session, now: datetime) -> set[tuple[Any, ...]]:
    """Reminders of the last year, as (user, course, status, expiry) keys."""
    details = session.scalars(
        select(AuditRecord.detail).where(
            AuditRecord.action == "training.reminder",
            AuditRecord.at >= now - timedelta(days=366),
        )
    )
    return {_reminder_key(detail) for detail in details if isinstance(detail, dict)}


def _reminder_key(detail: dict[str, Any]) -> tuple[Any, ...]:
    return (
        detail.get("user_id"),
        detail.get("course"),
        detail.get("status"),
        detail.get("expires_at"),
    )
