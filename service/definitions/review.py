"""The periodic review of a procedure (mission section 6), run as a `procedure_review` case.

A review starts when the procedure's schedule is due (beat job) or by hand.
Its first step gathers the feedback since the last review and the procedure's
figures into the case; the process owner's task then records "no change, with
reasons" or opens a new draft, which goes through compliance review like any
other version.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import User, UserRole
from service.access.service import SYSTEM, Actor
from service.audit.service import Event, record, records_refusals
from service.cases.models import Case
from service.cases.tasks import sync_tasks
from service.clock import aware
from service.db import UnitOfWork
from service.definitions.feedback import feedback_since
from service.definitions.figures import procedure_figures
from service.definitions.models import ProcedureReview, ProcedureVersion, ReviewSchedule
from service.definitions.service import compile_version, published_version
from service.definitions.versions import READ_ROLES, need_role, new_draft
from service.deps import ConnectorContext, Deps
from service.engine import SERIALIZER_VERSION, SPIFF_VERSION
from service.errors import Conflict, Invalid, NotFound

REVIEW_PROCEDURE = "procedure_review"
START_ROLES = frozenset({"process_owner", "compliance"})


@records_refusals
def start_review_by_hand(deps: Deps, actor: Actor, procedure: str) -> dict[str, Any]:
    need_role(actor, START_ROLES, "review.start", procedure=procedure)
    with deps.unit_of_work() as uow:
        review = start_review(uow, deps, actor, procedure, "hand", actor.id)
        uow.commit()
        return review_view(review)


def start_due_reviews(deps: Deps, actor: Actor = SYSTEM) -> list[str]:
    """Start the review of every procedure whose schedule is due; returns their names."""
    started = []
    for procedure in _reviewed_procedures(deps):
        with deps.unit_of_work() as uow:
            schedule = _schedule(uow.session, deps, procedure)
            now = deps.now()
            if _aware(schedule.next_review_at) > now or _open_review(uow.session, procedure):
                uow.commit()
                continue
            owner = _responsible_owner(uow.session, procedure)
            if owner is None:
                uow.commit()  # keep the schedule row; nobody holds process_owner yet
                continue
            start_review(uow, deps, actor, procedure, "timer", owner)
            schedule.next_review_at = add_months(now, schedule.interval_months)
            uow.commit()
            started.append(procedure)
    return started


@records_refusals
def list_reviews(deps: Deps, actor: Actor, procedure: str) -> list[dict[str, Any]]:
    need_role(actor, READ_ROLES, "review.list", procedure=procedure)
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(ProcedureReview)
            .where(ProcedureReview.procedure == procedure)
            .order_by(ProcedureReview.started_at)
        )
        return [review_view(r) for r in rows]


def start_review(
    uow: UnitOfWork, deps: Deps, actor: Actor, procedure: str, trigger: str, started_by: int
) -> ProcedureReview:
    """One review row and its case, started in the caller's transaction."""
    if procedure == REVIEW_PROCEDURE:
        raise Conflict("the review procedure is reviewed through its own versions")
    published_version(uow.session, procedure)  # NotFound for an unknown procedure
    if _open_review(uow.session, procedure):
        raise Conflict(f"a review of {procedure} is already running")
    now, case_id = deps.now(), str(uuid.uuid4())
    review = ProcedureReview(
        procedure=procedure,
        case_id=case_id,
        trigger=trigger,
        period_start=_period_start(uow.session, procedure),
        started_at=now,
        started_by=started_by,
    )
    uow.session.add(review)
    uow.session.flush()  # the gathering connector finds the review by its case id
    _start_case(uow, deps, actor, case_id, started_by, procedure)
    schedule = _schedule(uow.session, deps, procedure)
    schedule.last_review_at = now
    return review


def _start_case(
    uow: UnitOfWork, deps: Deps, actor: Actor, case_id: str, started_by: int, procedure: str
) -> None:
    now = deps.now()
    version = published_version(uow.session, REVIEW_PROCEDURE)
    diagram = compile_version(deps.engine, version)
    context = ConnectorContext(uow, deps, case_id, None, now)
    run = deps.engine.start(diagram, {"case_id": case_id, "reviewed_procedure": procedure}, context)
    case = Case(
        id=case_id,
        procedure=REVIEW_PROCEDURE,
        version_id=version.id,
        status="completed" if run.completed else "running",
        started_by=started_by,
        started_at=now,
        updated_at=now,
        lock_version=1,
        state=run.serialize(),
        next_timer_at=run.next_timer_due(),
        spiff_version=SPIFF_VERSION,
        serializer_version=SERIALIZER_VERSION,
    )
    uow.session.add(case)
    uow.session.flush()
    sync_tasks(uow.session, case, run, diagram, now)
    event = Event(
        action="case.start",
        procedure=REVIEW_PROCEDURE,
        version_hash=version.content_hash,
        case_id=case_id,
        detail={"reviewed_procedure": procedure},
    )
    record(uow.session, actor, event, now)


# --- connectors: the steps of the procedure_review diagram -------------------------------


def gather_review_figures(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """The feedback since the last review and the procedure's figures, into the case."""
    review = _review_of_case(ctx.uow.session, ctx.case_id)
    since = _aware(review.period_start)
    return {
        "procedure": review.procedure,
        "since": since.isoformat(),
        "figures": procedure_figures(ctx.uow.session, review.procedure, since, ctx.now),
        "feedback": [
            {k: f[k] for k in ("id", "step", "case_id", "author", "text", "created_at")}
            for f in feedback_since(ctx.uow.session, review.procedure, since)
        ],
    }


def record_review_outcome(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Close the review: "no_change" with reasons, or open a new draft of the procedure."""
    session = ctx.uow.session
    review = _review_of_case(session, ctx.case_id)
    outcome, reasons = str(params.get("outcome")), str(params.get("reasons") or "")
    if outcome not in ("no_change", "new_draft"):
        raise ValueError(f"unknown review outcome {outcome!r}")
    review.outcome, review.completed_at = outcome, ctx.now
    if outcome == "new_draft":
        source = published_version(session, review.procedure)
        summary = f"Periodic review {review.id}: {reasons}"[:500]
        draft = new_draft(ctx.uow, ctx.deps, None, source, summary, review_case_id=ctx.case_id)
        review.draft_version_id = draft.id
        event = Event(
            action="version.create",
            procedure=draft.procedure,
            version_hash=draft.content_hash,
            case_id=ctx.case_id,
            detail={"version_id": draft.id, "number": draft.number, "review_id": review.id},
        )
        record(session, SYSTEM, event, ctx.now)
    return {"outcome": outcome, "draft_version_id": review.draft_version_id}


# --- helpers -----------------------------------------------------------------------------


def review_view(review: ProcedureReview) -> dict[str, Any]:
    return {
        "id": review.id,
        "procedure": review.procedure,
        "case_id": review.case_id,
        "trigger": review.trigger,
        "period_start": _aware(review.period_start).isoformat(),
        "started_at": _aware(review.started_at).isoformat(),
        "outcome": review.outcome,
        "draft_version_id": review.draft_version_id,
        "completed_at": review.completed_at.isoformat() if review.completed_at else None,
    }


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later (the month's last day when it is shorter)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _review_of_case(session: Session, case_id: str) -> ProcedureReview:
    review = session.scalar(select(ProcedureReview).where(ProcedureReview.case_id == case_id))
    if review is None:
        # A review case is started for a procedure (its schedule, or by hand on the
        # procedures page), never from the generic start form.
        raise Invalid.field(
            "procedure",
            "a periodic review is started for the procedure it reviews: "
            "POST /api/v1/procedures/<procedure>/reviews (the procedures page)",
        )
    return review


def _open_review(session: Session, procedure: str) -> bool:
    return (
        session.scalar(
            select(ProcedureReview.id).where(
                ProcedureReview.procedure == procedure, ProcedureReview.outcome.is_(None)
            )
        )
        is not None
    )


def _period_start(session: Session, procedure: str) -> datetime:
    last = session.scalar(
        select(ProcedureReview.started_at)
        .where(ProcedureReview.procedure == procedure, ProcedureReview.outcome.is_not(None))
        .order_by(ProcedureReview.started_at.desc())
        .limit(1)
    )
    if last is not None:
        return last
    first = session.scalar(
        select(ProcedureVersion.created_at)
        .where(ProcedureVersion.procedure == procedure)
        .order_by(ProcedureVersion.number)
        .limit(1)
    )
    if first is None:
        raise NotFound(f"no procedure {procedure!r}")
    return first


def _schedule(session: Session, deps: Deps, procedure: str) -> ReviewSchedule:
    schedule = session.get(ReviewSchedule, procedure, with_for_update=True)
    if schedule is None:
        months = deps.settings.review_interval_months
        first = _aware(published_version(session, procedure).published_at or deps.now())
        schedule = ReviewSchedule(
            procedure=procedure, interval_months=months, next_review_at=add_months(first, months)
        )
        session.add(schedule)
        session.flush()
    return schedule


def _reviewed_procedures(deps: Deps) -> list[str]:
    with deps.unit_of_work() as uow:
        names = uow.session.scalars(
            select(ProcedureVersion.procedure).where(
                ProcedureVersion.status == "published",
                ProcedureVersion.procedure != REVIEW_PROCEDURE,
            )
        )
        return sorted(set(names))


def _responsible_owner(session: Session, procedure: str) -> int | None:
    """Whom a timer-started review is started for: the published version's author, else the
    longest-standing active process owner."""
    author = session.scalar(
        select(ProcedureVersion.author_id).where(
            ProcedureVersion.procedure == procedure, ProcedureVersion.status == "published"
        )
    )
    if author is not None:
        return author
    return session.scalar(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "process_owner", User.active.is_(True))
        .order_by(User.id)
        .limit(1)
    )


def _aware(moment: datetime) -> datetime:
    return aware(moment)
