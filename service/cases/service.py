"""Cases: start one, claim and complete its tasks, fire its timers.

Every advance of a case happens under one writer: the case row is locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers) and its
``lock_version`` is checked on write, so of two concurrent completions one wins
and the other gets a 409 with nothing half-written.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.access.service import Actor
from service.audit.service import Event, Refusal, record, records_refusals
from service.cases import duties
from service.cases.deadlines import due_date
from service.cases.forms import validate_form
from service.cases.models import Case, Task
from service.cases.personal import take_personal_data
from service.cases.tasks import sync_tasks, task_summary
from service.clock import iso
from service.db import UnitOfWork
from service.definitions.models import ProcedureVersion
from service.definitions.service import compile_version, published_version
from service.deps import ConnectorContext, Deps
from service.engine import SERIALIZER_VERSION, SPIFF_VERSION, Run, TaskNotReady
from service.errors import Conflict, Forbidden, NotFound
from service.vault import service as vault


@records_refusals
def start_case(deps: Deps, actor: Actor, procedure: str) -> dict[str, Any]:
    """Start a case of the procedure's published version; returns the case summary."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        version = published_version(uow.session, procedure)
        diagram = compile_version(deps.engine, version)
        case_id = str(uuid.uuid4())
        context = ConnectorContext(uow, deps, case_id, None, now, actor)
        due = request_due(deps, now)
        run = deps.engine.start(
            diagram, {"case_id": case_id, "review_due": due.isoformat()}, context
        )
        lanes = {task.lane for task in run.ready_tasks()}
        if lanes and not lanes & actor.roles:
            raise _refused(
                deps,
                actor,
                "case.start",
                procedure=procedure,
                reason=(f"starting {procedure} needs one of the roles {sorted(lanes)}"),
            )
        case = Case(
            id=case_id,
            procedure=procedure,
            version_id=version.id,
            status="running",
            started_by=actor.id,
            started_at=now,
            updated_at=now,
            due_at=due,
            lock_version=1,
            state="",
            spiff_version=SPIFF_VERSION,
            serializer_version=SERIALIZER_VERSION,
        )
        uow.session.add(case)
        _store_state(case, run, now)
        uow.session.flush()
        sync_tasks(uow.session, case, run, compile_version(deps.engine, version), now)
        record(uow.session, actor, _event("case.start", case, version), now)
        _finish_if_done(uow, case, run, actor, version, now)
        # Read inside the transaction: after commit it would open another one.
        summary = case_summary(uow.session, case)
        uow.commit()
        return summary


def request_due(deps: Deps, now: datetime) -> datetime:
    """When a request started now must be answered: working days, capped by a ceiling."""
    settings = deps.settings
    return due_date(
        now, deps.calendar, settings.request_working_days, settings.request_ceiling_days
    )


@records_refusals
def claim_task(deps: Deps, actor: Actor, task_id: str) -> dict[str, Any]:
    now = deps.now()
    with deps.unit_of_work() as uow:
        task, case = _load_for_update(uow.session, task_id)
        try:
            _check_can_act(uow.session, actor, task, case)
        except Forbidden as refusal:
            raise _refused(
                deps, actor, "task.claim", task=task, case=case, reason=refusal.message
            ) from None
        if task.status != "open":
            raise Conflict(f"task {task_id} is {task.status}, it cannot be claimed")
        task.status, task.assignee_id = "claimed", actor.id
        version = uow.session.get(ProcedureVersion, case.version_id)
        record(uow.session, actor, _event("task.claim", case, version, task), now)
        uow.commit()
        return task_summary(task)


def unclaim_task(deps: Deps, actor: Actor, task_id: str) -> dict[str, Any]:
    now = deps.now()
    with deps.unit_of_work() as uow:
        task, case = _load_for_update(uow.session, task_id)
        if task.status != "claimed" or task.assignee_id != actor.id:
            raise Conflict(f"task {task_id} is not claimed by you")
        task.status, task.assignee_id = "open", None
        version = uow.session.get(ProcedureVersion, case.version_id)
        record(uow.session, actor, _event("task.unclaim", case, version, task), now)
        uow.commit()
        return task_summary(task)


@records_refusals
def complete_task(deps: Deps, actor: Actor, task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate the form, store personal values in the vault, and advance the case."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        task, case = _load_for_update(uow.session, task_id)
        if task.status in ("completed", "cancelled"):
            raise Conflict(f"task {task_id} is already {task.status}")
        try:
            _check_can_act(uow.session, actor, task, case)
        except Forbidden as refusal:
            raise _refused(
                deps, actor, "task.complete", task=task, case=case, reason=refusal.message
            ) from None
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        schema = version.forms.get(task.form or "", {"type": "object"})
        validate_form(schema, data, f"{version.content_hash}:{task.form}")
        task_data = take_personal_data(uow, deps, case, schema, data, now)
        run = _restore(deps, version, case)
        context = ConnectorContext(uow, deps, case.id, case.subject, now, actor)
        try:
            run.complete(task_id, task_data, context)
        except TaskNotReady:
            raise Conflict(f"task {task_id} is no longer ready") from None
        task.status, task.completed_at, task.completed_by = "completed", now, actor.id
        task.assignee_id = actor.id
        _save(uow.session, case, run, now)
        sync_tasks(uow.session, case, run, compile_version(deps.engine, version), now)
        record(
            uow.session,
            actor,
            _event("task.complete", case, version, task, fields=sorted(data)),
            now,
        )
        _finish_if_done(uow, case, run, actor, version, now)
        # Read inside the transaction: after commit it would open another one.
        summary = case_summary(uow.session, case)
        uow.commit()
        return summary


def resume_case(
    deps: Deps, actor: Actor, case_id: str, message: str, payload: dict[str, Any]
) -> bool:
    """Deliver a finished job's message to the case waiting for it, under the case lock.

    Idempotent: when the case no longer waits for the message (a redelivered
    job), nothing changes and False is returned.
    """
    now = deps.now()
    with deps.unit_of_work() as uow:
        case = _lock_case(uow.session, case_id)
        if case.status != "running":
            return False
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        run = _restore(deps, version, case)
        context = ConnectorContext(uow, deps, case.id, case.subject, now, actor)
        if not run.deliver_message(message, payload, context):
            return False
        _save(uow.session, case, run, now)
        sync_tasks(uow.session, case, run, compile_version(deps.engine, version), now)
        record(
            uow.session,
            actor,
            _event("case.resume", case, version, detail={"message": message}),
            now,
        )
        _finish_if_done(uow, case, run, actor, version, now)
        uow.commit()
        return True


def fire_due_timers(deps: Deps, actor: Actor, limit: int = 100) -> int:
    """Advance every running case whose next timer is due; returns how many fired."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        due = list(
            uow.session.scalars(
                select(Case.id)
                .where(Case.status == "running", Case.next_timer_at <= now)
                .order_by(Case.next_timer_at)
                .limit(limit)
            )
        )
    fired = 0
    for case_id in due:
        with deps.unit_of_work() as uow:
            case = _lock_case(uow.session, case_id)
            version = uow.session.get_one(ProcedureVersion, case.version_id)
            run = _restore(deps, version, case)
            run.fire_timers(ConnectorContext(uow, deps, case.id, case.subject, now), now)
            _save(uow.session, case, run, now)
            sync_tasks(uow.session, case, run, compile_version(deps.engine, version), now)
            record(uow.session, actor, _event("case.timer", case, version), now)
            _finish_if_done(uow, case, run, actor, version, now)
            uow.commit()
            fired += 1
    return fired


def case_summary(session: Session, case: Case) -> dict[str, Any]:
    open_tasks = session.scalars(
        select(Task)
        .where(Task.case_id == case.id, Task.status.in_(("open", "claimed")))
        .order_by(Task.created_at)
    )
    return {
        "id": case.id,
        "procedure": case.procedure,
        "status": case.status,
        "outcome": case.outcome,
        "subject": case.subject,
        "started_at": iso(case.started_at),
        "completed_at": iso(case.completed_at),
        "due_at": iso(case.due_at),
        "version": case.lock_version,
        "tasks": [task_summary(t) for t in open_tasks],
    }


def _check_can_act(session: Session, actor: Actor, task: Task, case: Case) -> None:
    if task.lane not in actor.roles:
        raise Forbidden(f"this task is for the role {task.lane!r}, which you do not hold")
    if task.status == "claimed" and task.assignee_id != actor.id:
        raise Forbidden("this task is claimed by someone else")
    duties.check(session, actor, task, case)


def _load_for_update(session: Session, task_id: str) -> tuple[Task, Case]:
    case_id = session.scalar(select(Task.case_id).where(Task.id == task_id))
    if case_id is None:
        raise NotFound(f"no task {task_id}")
    case = _lock_case(session, case_id)
    task = session.scalars(
        select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    ).one()
    return task, case


def _lock_case(session: Session, case_id: str) -> Case:
    case = session.scalars(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def _restore(deps: Deps, version: ProcedureVersion, case: Case) -> Run:
    return deps.engine.restore(compile_version(deps.engine, version), case.state)


def _store_state(case: Case, run: Run, now: datetime) -> None:
    case.state = run.serialize()
    case.next_timer_at = run.next_timer_due()
    case.updated_at = now


def _save(session: Session, case: Case, run: Run, now: datetime) -> None:
    """Write the new state only if nobody else advanced the case meanwhile."""
    expected = case.lock_version
    state, next_timer = run.serialize(), run.next_timer_due()
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.lock_version == expected)
        .values(state=state, next_timer_at=next_timer, updated_at=now, lock_version=expected + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"case {case.id} was changed by someone else; reload and try again")
    case.state, case.next_timer_at, case.updated_at = state, next_timer, now
    case.lock_version = expected + 1
    session.expire(case, ["state"])


def _finish_if_done(
    uow: UnitOfWork,
    case: Case,
    run: Run,
    actor: Actor,
    version: ProcedureVersion | None,
    now: datetime,
) -> None:
    if not run.completed:
        if not run.main_path_finished:
            return
        # Only side branches are left (an overdue step's escalation): the request
        # is decided, so they are moot and end with it.
        run.cancel()
        case.state = run.serialize()
        uow.session.execute(
            update(Task)
            .where(Task.case_id == case.id, Task.status.in_(("open", "claimed")))
            .values(status="cancelled", completed_at=now)
            .execution_options(synchronize_session=False)
        )
    case.status, case.outcome, case.completed_at = "completed", run.end_event, now
    if case.subject:
        # A collection that ends without entry must leave no personal data behind.
        vault.discard_draft(uow, case.subject)
    record(uow.session, actor, _event("case.complete", case, version), now)


def _event(
    action: str,
    case: Case,
    version: ProcedureVersion | None,
    task: Task | None = None,
    **extra: Any,
) -> Event:
    return Event(
        action=action,
        procedure=case.procedure,
        version_hash=version.content_hash if version else None,
        case_id=case.id,
        task_id=task.id if task else None,
        subject=case.subject,
        **extra,
    )


def _refused(
    deps: Deps,
    actor: Actor,
    action: str,
    *,
    reason: str,
    task: Task | None = None,
    case: Case | None = None,
    procedure: str | None = None,
) -> Refusal:
    return Refusal(
        reason,
        Event(
            action=action,
            outcome="refused",
            reason=reason,
            procedure=case.procedure if case else procedure,
            case_id=case.id if case else None,
            task_id=task.id if task else None,
            subject=case.subject if case else None,
        ),
    )
