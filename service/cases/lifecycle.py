"""A request's life outside its diagram: withdrawal and deadline extension."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from service.access.service import REVIEW_ROLES, Actor
from service.audit.service import record, records_refusals
from service.cases.models import Case, Task, lock_case
from service.cases.service import _event, _restore, _save, case_summary, refused
from service.clock import aware
from service.definitions.models import ProcedureVersion
from service.deps import Deps
from service.errors import Conflict, Invalid
from service.vault import proofs
from service.vault import service as vault
from service.vault.changes import PendingChange

EXTENDING_ROLES = frozenset({"supervisor", "data_officer"})


@records_refusals
def withdraw_case(deps: Deps, actor: Actor, case_id: str, reason: str) -> dict[str, Any]:
    """The requester withdraws before review starts; the case ends cleanly, audited."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        case = lock_case(uow.session, case_id)
        if case.started_by != actor.id:
            raise refused(
                "case.withdraw",
                case=case,
                reason="only the person who filed the request can withdraw it",
            )
        if case.status != "running":
            raise Conflict(f"case {case_id} has already ended ({case.outcome})")
        if _review_started(uow.session, case_id):
            raise Conflict("review has started; the request can no longer be withdrawn")
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        run = _restore(deps, version, case)
        run.cancel()
        _save(uow.session, case, run, now)
        _close_tasks(uow.session, case_id, now)
        uow.session.execute(delete(PendingChange).where(PendingChange.case_id == case_id))
        if case.subject:
            vault.discard_draft(uow, case.subject)
        proofs.destroy_case_documents(uow, deps, actor, case, now)
        case.status, case.outcome, case.completed_at = "completed", "withdrawn", now
        record(uow.session, actor, _event("case.withdraw", case, version, reason=reason[:500]), now)
        summary = case_summary(uow.session, case)
        uow.commit()
        return summary


@records_refusals
def extend_deadline(
    deps: Deps, actor: Actor, case_id: str, new_due: datetime, reason: str
) -> dict[str, Any]:
    """Move a running request's due date, with a recorded reason, within the hard ceiling."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        case = lock_case(uow.session, case_id)
        if not actor.roles & EXTENDING_ROLES:
            raise refused(
                "case.extend", case=case, reason=f"extending needs one of {sorted(EXTENDING_ROLES)}"
            )
        if case.status != "running":
            raise Conflict(f"case {case_id} has already ended")
        _check_new_due(deps, case, new_due)
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        run = _restore(deps, version, case)
        run.reschedule_timers("review_due", new_due)
        _save(uow.session, case, run, now)
        before = aware(case.due_at).isoformat() if case.due_at else None
        case.due_at = new_due
        uow.session.execute(
            update(Task)
            .where(
                Task.case_id == case_id,
                Task.status.in_(("open", "claimed")),
                Task.lane.in_(sorted(REVIEW_ROLES)),
            )
            .values(due_at=new_due)
        )
        record(
            uow.session,
            actor,
            _event(
                "case.extend",
                case,
                version,
                reason=reason[:500],
                detail={"due_before": before, "due_after": new_due.isoformat()},
            ),
            now,
        )
        summary = case_summary(uow.session, case)
        uow.commit()
        return summary | {"due_at": new_due.isoformat()}


def _check_new_due(deps: Deps, case: Case, new_due: datetime) -> None:
    if new_due.tzinfo is None:
        raise Invalid.field("due_at", "must carry a time zone")
    current = aware(case.due_at) if case.due_at else None
    if current is not None and new_due <= current:
        raise Invalid.field("due_at", "must be later than the current due date")
    ceiling = aware(case.started_at) + timedelta(days=deps.settings.request_ceiling_days)
    if new_due > ceiling:
        raise Invalid.field("due_at", f"must not pass the hard ceiling of {ceiling.isoformat()}")


def _review_started(session: Any, case_id: str) -> bool:
    return (
        session.scalar(
            select(Task.id)
            .where(
                Task.case_id == case_id,
                Task.lane.in_(sorted(REVIEW_ROLES)),
                (Task.status == "completed") | (Task.status == "claimed"),
            )
            .limit(1)
        )
        is not None
    )


def _close_tasks(session: Any, case_id: str, now: datetime) -> None:
    session.execute(
        update(Task)
        .where(Task.case_id == case_id, Task.status.in_(("open", "claimed")))
        .values(status="cancelled", completed_at=now)
    )
