"""Cases: start one, claim and complete its tasks, fire its timers.

Every advance of a case happens under one writer: the case row is locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers) and its
``lock_version`` is checked on write, so of two concurrent completions one wins
and the other gets a 409 with nothing half-written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from service.access.scope import starting_scope
from service.access.service import REVIEW_ROLES, SUPERVISOR, Actor
from service.audit.service import Event, Refusal, record, records_refusals
from service.cases import duties
from service.cases.deadlines import due_date
from service.cases.forms import check_within, validate_form, within_rules
from service.cases.models import Case, Task, lock_case
from service.cases.personal import take_personal_data
from service.cases.tasks import COMPLETED_TASKS, due_at, task_summary
from service.cases.writes import StepWrites, update_task, write_step
from service.clock import iso
from service.db import UnitOfWork
from service.definitions.models import ProcedureVersion
from service.definitions.service import diagram_for, published_version
from service.deps import ConnectorContext, Deps
from service.engine import SERIALIZER_VERSION, SPIFF_VERSION, CompiledDiagram, Run, TaskNotReady
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.vault import proofs
from service.vault import service as vault

_CASES: Table = Case.__table__  # type: ignore[assignment]
_TASKS: Table = Task.__table__  # type: ignore[assignment]
OPEN = ("open", "claimed")

# The hot path's statements, built once: building a statement and its cache
# key on every call cost more than running it (profile of complete_task).
_LOCK_CASE_OF_TASK = (
    select(
        Case,
        select(ProcedureVersion.content_hash)
        .where(ProcedureVersion.id == Case.version_id)
        .scalar_subquery(),
    )
    .where(Case.id == select(Task.case_id).where(Task.id == bindparam("task_id")).scalar_subquery())
    .with_for_update(of=Case)
    .execution_options(populate_existing=True)
)
_VERSION = (
    select(ProcedureVersion)
    .where(ProcedureVersion.id == bindparam("version_id"))
    .options(defer(ProcedureVersion.bpmn))
)
_PUBLISHED = select(ProcedureVersion.id, ProcedureVersion.content_hash).where(
    ProcedureVersion.procedure == bindparam("procedure"),
    ProcedureVersion.status == "published",
)
_TASK_ROWS = select(_TASKS).where(_TASKS.c.case_id == bindparam("case_id"))


@records_refusals
def start_case(deps: Deps, actor: Actor, procedure: str) -> dict[str, Any]:
    """Start a case of the procedure's published version; returns the case summary."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        version = _published_version(uow.session, procedure)
        diagram = _diagram(deps, version)
        case_id = str(uuid.uuid4())
        context = ConnectorContext(uow, deps, case_id, None, now, actor)
        due = request_due(deps, now)
        run = deps.engine.start(
            diagram, {"case_id": case_id, "review_due": due.isoformat()}, context
        )
        lanes = {task.lane for task in run.ready_tasks()}
        if lanes and not lanes & actor.roles:
            raise refused(
                "case.start",
                procedure=procedure,
                reason=f"starting {procedure} needs the role {' or '.join(sorted(lanes))}",
            )
        department, branch = starting_scope(uow.session, actor, lanes)
        ended = _ended(run)
        values = {
            "id": case_id,
            "procedure": procedure,
            "version_id": version.id,
            "status": "running",
            "outcome": None,
            "subject": None,
            "started_by": actor.id,
            "department": department,
            "branch": branch,
            "started_at": now,
            "updated_at": now,
            "completed_at": None,
            "due_at": due,
            "next_timer_at": run.next_timer_due(),
            "lock_version": 1,
            "state": run.serialize(),
            "spiff_version": SPIFF_VERSION,
            "serializer_version": SERIALIZER_VERSION,
            "held_documents": False,
        } | _ending(run, now, ended)
        case = Case(**values)
        new, gone, open_tasks = _mirror_changes(case, run, diagram, now, known=[])
        # Core: the rows are written now, and the case stays a plain object (nothing to flush).
        write_step(
            uow.session,
            StepWrites(case_id, values, new_tasks=new, gone=gone, gone_at=now, lock_head=not ended),
        )
        record(uow.session, actor, _event("case.start", case, version), now)
        if ended:
            _close_case(uow, deps, case, actor, version, now)
        summary = _summary(case, open_tasks)
        uow.commit()
        if not ended:
            deps.engine.live.keep(case_id, diagram, values["state"], run)
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
        task, case, version_hash = _load_for_update(uow.session, task_id)
        try:
            _check_can_act(uow.session, actor, task, case)
        except Forbidden as refusal:
            raise refused("task.claim", task=task, case=case, reason=refusal.message) from None
        if task.status != "open":
            raise Conflict(f"task {task_id} is {task.status}, it cannot be claimed")
        _set_task(uow.session, task, status="claimed", assignee_id=actor.id, claimed_at=now)
        record(uow.session, actor, _event("task.claim", case, version_hash, task), now)
        uow.commit()
        return task_summary(task)


@records_refusals
def unclaim_task(
    deps: Deps, actor: Actor, task_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Put a claimed task back in its lane: the claimer's own, or anyone's by a supervisor.

    A supervisor releases a task someone else holds (absent, on leave, gone)
    with a reason, within their scope; the record names whom it was taken from.
    """
    now = deps.now()
    with deps.unit_of_work() as uow:
        task, case, version_hash = _load_for_update(uow.session, task_id)
        if task.status != "claimed":
            raise Conflict(f"task {task_id} is {task.status}, not claimed")
        extra: dict[str, Any] = {}
        if task.assignee_id != actor.id:
            if SUPERVISOR not in actor.roles:
                raise Conflict(f"task {task_id} is not claimed by you")
            if reason is None or not reason.strip():
                raise Invalid.field("reason", "say why you release a task someone else holds")
            try:
                duties.check_scope(uow.session, actor, SUPERVISOR, case)
            except Forbidden as refusal:
                message = refusal.message
                raise refused("task.unclaim", task=task, case=case, reason=message) from None
            extra = {"reason": reason.strip(), "detail": {"released_from": task.assignee_id}}
        _set_task(uow.session, task, status="open", assignee_id=None, claimed_at=None)
        record(uow.session, actor, _event("task.unclaim", case, version_hash, task, **extra), now)
        uow.commit()
        return task_summary(task)


@records_refusals
def complete_task(deps: Deps, actor: Actor, task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate the form, store personal values in the vault, and advance the case.

    Statements on this path (it is the hottest one): lock the case, read its
    task rows (they serve the checks, the mirror update and the summary), the
    version by primary key, then one UPDATE of the case, one of the task, one
    INSERT of the newly ready tasks and the audit append.
    """
    now = deps.now()
    with deps.unit_of_work() as uow:
        case, content_hash = _lock_case_of_task(uow.session, task_id)
        known = _task_rows(uow.session, case.id)
        task = next(Task(**row) for row in known if row["id"] == task_id)
        if task.status in ("completed", "cancelled"):
            raise Conflict(f"task {task_id} is already {task.status}")
        version = _version(uow.session, case, content_hash)
        try:
            _check_can_act(uow.session, actor, task, case, known)
        except Forbidden as refusal:
            raise refused("task.complete", task=task, case=case, reason=refusal.message) from None
        schema = version.forms.get(task.form or "", {"type": "object"})
        validate_form(schema, data, f"{version.content_hash}:{task.form}")
        task_data = take_personal_data(uow, deps, case, schema, data, now, actor)
        diagram = _diagram(deps, version)
        run = deps.engine.resume(diagram, case.id, case.state)
        context = ConnectorContext(uow, deps, case.id, case.subject, now, actor)
        try:
            within = within_rules(schema, f"{version.content_hash}:{task.form}")
            if within:
                check_within(within, data, run.task_data(task_id))
            run.complete(task_id, task_data, context)
        except TaskNotReady:
            raise Conflict(f"task {task_id} is no longer ready") from None
        ended = _ended(run)
        done = {
            "status": "completed",
            "completed_at": now,
            "completed_by": actor.id,
            "assignee_id": actor.id,
        }
        for row in known:
            if row["id"] == task_id:
                row.update(done)
        state, open_tasks = _advance(
            uow.session, case, run, diagram, now, ended, known, done_task=task_id, done=done
        )
        for name, value in done.items():
            set_committed_value(task, name, value)
        uow.session.info.setdefault(COMPLETED_TASKS, []).append(
            (task.procedure, task.lane, _seconds_between(task.created_at, now))
        )
        record(
            uow.session,
            actor,
            _event("task.complete", case, version, task, fields=sorted(data)),
            now,
        )
        if ended:
            _close_case(uow, deps, case, actor, version, now)
        summary = _summary(case, open_tasks)
        uow.commit()
        if not ended:
            deps.engine.live.keep(case.id, diagram, state, run)
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
        case = lock_case(uow.session, case_id)
        if case.status != "running":
            return False
        version = _version(uow.session, case)
        diagram = _diagram(deps, version)
        run = deps.engine.restore(diagram, case.state)
        context = ConnectorContext(uow, deps, case.id, case.subject, now, actor)
        if not run.deliver_message(message, payload, context):
            return False
        ended = _ended(run)
        _advance(uow.session, case, run, diagram, now, ended)
        record(
            uow.session,
            actor,
            _event("case.resume", case, version, detail={"message": message}),
            now,
        )
        if ended:
            _close_case(uow, deps, case, actor, version, now)
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
            case = lock_case(uow.session, case_id)
            version = _version(uow.session, case)
            diagram = _diagram(deps, version)
            run = deps.engine.restore(diagram, case.state)
            run.fire_timers(ConnectorContext(uow, deps, case.id, case.subject, now), now)
            ended = _ended(run)
            _advance(uow.session, case, run, diagram, now, ended)
            record(uow.session, actor, _event("case.timer", case, version), now)
            if ended:
                _close_case(uow, deps, case, actor, version, now)
            uow.commit()
            fired += 1
    return fired


def case_summary(session: Session, case: Case) -> dict[str, Any]:
    open_tasks = session.execute(
        select(_TASKS)
        .where(_TASKS.c.case_id == case.id, _TASKS.c.status.in_(OPEN))
        .order_by(_TASKS.c.created_at)
    ).mappings()
    return _summary(case, [task_summary(_row_view(row)) for row in open_tasks])


def _summary(case: Case, open_tasks: list[dict[str, Any]]) -> dict[str, Any]:
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
        "tasks": open_tasks,
    }


def _check_can_act(
    session: Session,
    actor: Actor,
    task: Task,
    case: Case,
    case_tasks: list[dict[str, Any]] | None = None,
) -> None:
    if task.lane not in actor.roles:
        raise Forbidden(f"this task is for the role {task.lane!r}, which you do not hold")
    if task.status == "claimed" and task.assignee_id != actor.id:
        raise Forbidden("this task is claimed by someone else")
    duties.check(session, actor, task, case, case_tasks)


def _load_for_update(session: Session, task_id: str) -> tuple[Task, Case, str]:
    """The task, its case (locked) and the content hash of the case's version."""
    case, content_hash = _lock_case_of_task(session, task_id)
    task = session.scalars(
        select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    ).one()
    return task, case, content_hash


def _lock_case_of_task(session: Session, task_id: str) -> tuple[Case, str]:
    """The task's case, locked, and its version's content hash, in one statement.

    The task row itself is read after the lock.
    """
    row = session.execute(_LOCK_CASE_OF_TASK, {"task_id": task_id}).one_or_none()
    if row is None:
        raise NotFound(f"no task {task_id}")
    return row[0], row[1]


def _restore(deps: Deps, version: ProcedureVersion, case: Case) -> Run:
    return deps.engine.restore(_diagram(deps, version), case.state)


def _version(session: Session, case: Case, content_hash: str | None = None) -> ProcedureVersion:
    """The case's version without its diagram text (read only if it was never compiled here)."""
    return _version_by_id(session, case.version_id, content_hash)


def _version_by_id(
    session: Session, version_id: int, content_hash: str | None = None
) -> ProcedureVersion:
    """A version without its diagram text.

    Given the content hash the caller read with its id, a version seen
    before is put into the session from memory (no statement): only its
    content, which the hash covers, is kept; every other column (status,
    number, ...) loads from the database if anything reads it.
    """
    key = (version_id, content_hash or "")
    cached = _VERSIONS.get(key)
    if content_hash and cached is not None:
        return session.merge(cached, load=False)
    version = session.scalars(_VERSION, {"version_id": version_id}).one()
    if content_hash and version.content_hash == content_hash:
        session.expire(version, _MUTABLE_VERSION_COLUMNS)
        if len(_VERSIONS) >= 256:
            _VERSIONS.clear()
        _VERSIONS[key] = version
    return version


# Versions by (id, content hash): immutable content only (see `_version`).
_VERSIONS: dict[tuple[int, str], ProcedureVersion] = {}
_IMMUTABLE_VERSION_COLUMNS = {"id", "content_hash", "diagram_hash", "forms"}
_MUTABLE_VERSION_COLUMNS = [
    c.key
    for c in ProcedureVersion.__table__.columns
    if c.key not in _IMMUTABLE_VERSION_COLUMNS and c.key != "bpmn"
]


def _published_version(session: Session, procedure: str) -> ProcedureVersion:
    """`published_version` without the diagram text (see `_diagram`).

    Its id and content hash are read with Core; a version seen before then
    comes from memory (`_version_by_id`), not through the ORM's loading.
    """
    row = session.connection().execute(_PUBLISHED, {"procedure": procedure}).first()
    if row is None:
        return published_version(session, procedure)  # its NotFound
    return _version_by_id(session, row.id, row.content_hash)


def _diagram(deps: Deps, version: ProcedureVersion) -> CompiledDiagram:
    """The version's compiled diagram, cached by its content hash."""
    return diagram_for(deps.engine, version.content_hash, lambda: version)


def _ended(run: Run) -> bool:
    """Whether the request is decided; moot side branches end with it (before the state is saved).

    Only side branches may be left (an overdue step's escalation): they are
    cancelled, so the saved state, and the task mirror synced from it, have
    nothing open.
    """
    if run.completed:
        return True
    if not run.main_path_finished:
        return False
    run.cancel()
    return True


def _ending(run: Run, now: datetime, ended: bool) -> dict[str, Any]:
    if not ended:
        return {}
    return {"status": "completed", "outcome": run.end_event, "completed_at": now}


def _save(session: Session, case: Case, run: Run, now: datetime, *, ended: bool = False) -> str:
    """Write the new state (and the end, if the case ended) in one UPDATE; returns the state.

    Written only if nobody else advanced the case meanwhile (else Conflict).
    """
    saved = _saved_values(case, run, now, ended)
    write_step(session, StepWrites(case.id, saved, expected_version=case.lock_version))
    return _apply_saved(session, case, saved)


def _advance(
    session: Session,
    case: Case,
    run: Run,
    diagram: CompiledDiagram,
    now: datetime,
    ended: bool,
    known: list[dict[str, Any]] | None = None,
    done_task: str | None = None,
    done: dict[str, Any] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Save the case's new state, the task just done (if any) and the task mirror in one go.

    ``known`` are the case's task rows if the caller read them already.
    Returns the state written and the summaries of the open tasks.
    """
    if known is None:
        known = _task_rows(session, case.id)
    new, gone, open_tasks = _mirror_changes(case, run, diagram, now, known)
    saved = _saved_values(case, run, now, ended)
    writes = StepWrites(
        case.id,
        saved,
        expected_version=case.lock_version,
        done_task=done_task,
        done=done or {},
        new_tasks=new,
        gone=gone,
        gone_at=now,
        lock_head=not ended,
    )
    write_step(session, writes)
    return _apply_saved(session, case, saved), open_tasks


def _saved_values(case: Case, run: Run, now: datetime, ended: bool) -> dict[str, Any]:
    """Every SAVED_COLUMNS value of the case after the step: its state, version, end."""
    values = {
        "state": run.serialize(),
        "next_timer_at": run.next_timer_due(),
        "updated_at": now,
        "lock_version": case.lock_version + 1,
        "subject": case.subject,  # a form may just have set it: no UPDATE of its own
        "status": case.status,
        "outcome": case.outcome,
        "completed_at": case.completed_at,
        **_ending(run, now, ended),
    }
    return values


def _apply_saved(session: Session, case: Case, saved: dict[str, Any]) -> str:
    """The loaded case takes the written values as committed (no second UPDATE at flush).

    Returns the state written, which the case does not hold (it is large).
    """
    for name, value in saved.items():
        if name != "state":
            set_committed_value(case, name, value)
    session.expire(case, ["state"])
    return str(saved["state"])


def _close_case(
    uow: UnitOfWork,
    deps: Deps,
    case: Case,
    actor: Actor,
    version: ProcedureVersion | str | None,
    now: datetime,
) -> None:
    """What follows the end of a case already saved as completed."""
    if case.subject:
        # A collection that ends without entry must leave no personal data behind.
        vault.discard_draft(uow, case.subject)
    # Proof documents still held by the case's own key (no subject ever known) go with it.
    proofs.destroy_case_documents(uow, deps, actor, case, now)
    record(uow.session, actor, _event("case.complete", case, version), now)


def _seconds_between(start: datetime | None, end: datetime) -> float:
    if start is None:
        return 0.0
    if start.tzinfo is None:  # SQLite hands back naive UTC
        start = start.replace(tzinfo=end.tzinfo)
    return max(0.0, (end - start).total_seconds())


def _task_rows(session: Session, case_id: str) -> list[dict[str, Any]]:
    """Every mirrored task of the case, as plain rows (Core: no ORM objects to track)."""
    rows = session.connection().execute(_TASK_ROWS, {"case_id": case_id})
    return [dict(row) for row in rows.mappings()]


def _set_task(session: Session, task: Task, **values: Any) -> None:
    """Update one task row with Core; a loaded Task takes the values as committed."""
    update_task(session, task.id, values)
    for name, value in values.items():
        set_committed_value(task, name, value)


def _mirror_changes(
    case: Case, run: Run, diagram: CompiledDiagram, now: datetime, known: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """What brings the task mirror in line with the engine, from the case's task rows.

    The same rule as `sync_tasks`: the newly ready tasks' rows to insert, the
    ids of mirrored open tasks the engine no longer has ready (to cancel), and
    the summaries of the open tasks after that.
    """
    ready = {task.id: task for task in run.ready_tasks()}
    seen = {row["id"] for row in known}
    new = [
        {
            "id": task_id,
            "case_id": case.id,
            "procedure": case.procedure,
            "spec_name": human.spec_name,
            "label": human.label,
            "lane": human.lane,
            "form": human.form,
            "status": "open",
            "assignee_id": None,
            "claimed_at": None,
            "created_at": now,
            "due_at": due_at(now, _due_in(diagram, human.spec_name))
            or (case.due_at if human.lane in REVIEW_ROLES else None),
            "completed_at": None,
            "completed_by": None,
        }
        for task_id, human in ready.items()
        if task_id not in seen
    ]
    gone = [row["id"] for row in known if row["status"] in OPEN and row["id"] not in ready]
    still_open = [row for row in known if row["status"] in OPEN and row["id"] in ready]
    rows = sorted(still_open, key=lambda row: _aware(row["created_at"])) + new
    return new, gone, [task_summary(_row_view(row)) for row in rows]


def _row_view(row: Any) -> Task:
    """A detached Task carrying a row's values, for code that reads task attributes."""
    return Task(**dict(row))


def _due_in(diagram: CompiledDiagram, spec_name: str) -> str | None:
    meta = diagram.user_tasks.get(spec_name)
    return meta.due_in if meta else None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event(
    action: str,
    case: Case,
    version: ProcedureVersion | str | None,
    task: Task | None = None,
    **extra: Any,
) -> Event:
    if isinstance(version, ProcedureVersion):
        version = version.content_hash
    return Event(
        action=action,
        procedure=case.procedure,
        version_hash=version,
        case_id=case.id,
        task_id=task.id if task else None,
        subject=case.subject,
        **extra,
    )


def refused(
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
