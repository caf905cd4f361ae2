"""The task mirror: human tasks copied out of the engine into an indexed table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, false, select, true, tuple_, union_all, update
from sqlalchemy.orm import Session, aliased

from service.access.scope import role_scope_condition, scope_condition
from service.access.service import REVIEW_ROLES, SUPERVISOR, Actor, usernames
from service.cases.models import Case, Task
from service.clock import iso
from service.engine import CompiledDiagram, Run
from service.errors import Forbidden, Invalid

# Key of the session's list of (procedure, lane, seconds waited) for the tasks
# completed in its open transaction; read by whoever counts committed work (metrics).
COMPLETED_TASKS = "cases.completed_tasks"

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$"
)


def sync_tasks(
    session: Session, case: Case, run: Run, diagram: CompiledDiagram, now: datetime
) -> None:
    """Insert newly ready tasks; cancel mirrored open tasks the engine no longer has ready."""
    ready = {task.id: task for task in run.ready_tasks()}
    rows = session.execute(select(Task.id, Task.status).where(Task.case_id == case.id))
    known: dict[str, str] = {row.id: row.status for row in rows}
    for task_id, human in ready.items():
        if task_id not in known:
            session.add(
                Task(
                    id=task_id,
                    case_id=case.id,
                    procedure=case.procedure,
                    spec_name=human.spec_name,
                    label=human.label,
                    lane=human.lane,
                    form=human.form,
                    status="open",
                    created_at=now,
                    due_at=due_at(now, _due_in(diagram, human.spec_name))
                    or (case.due_at if human.lane in REVIEW_ROLES else None),
                )
            )
    gone = [t for t, status in known.items() if status in ("open", "claimed") and t not in ready]
    if gone:
        session.execute(
            update(Task)
            .where(Task.id.in_(gone))
            .values(status="cancelled", completed_at=now)
            .execution_options(synchronize_session=False)
        )


def due_at(now: datetime, duration: str | None) -> datetime | None:
    """``now`` plus an ISO 8601 duration of weeks, days, hours and minutes."""
    match = _DURATION.match(duration or "")
    if not duration or not match:
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return now + timedelta(**parts)


def list_tasks(
    session: Session,
    actor: Actor,
    *,
    scope: str,
    procedure: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """My claimed tasks (``mine``), open tasks for my roles (``claimable``), or both (``all``);
    for a supervisor, the tasks anyone in their scope holds (``held``), each with
    who holds it (``assignee``) and since when.

    In queue order (`_queue_order`), which is total, so pages neither repeat
    nor skip a task. ``after`` (a task id, the last one of the previous page)
    pages by position in that order rather than by count: the database seeks
    to it in the queue index, however deep the page, and tasks claimed or
    added meanwhile do not shift the next page.
    """
    mine = (Task.assignee_id == actor.id) & (Task.status == "claimed")
    # One condition per role: each reads ix_tasks_queue in order (an IN list of
    # lanes, or an OR with `mine`, made the database sort every open task).
    claimable = [(Task.status == "open") & (Task.lane == role) for role in sorted(actor.roles)]
    if scope == "held":
        if SUPERVISOR not in actor.roles:
            raise Forbidden("only a supervisor sees the tasks other staff hold")
        parts: Sequence[ColumnElement[bool]] = [Task.status == "claimed"]
        in_scope = role_scope_condition(actor, SUPERVISOR, Case.department, Case.branch)
    else:
        parts = {"mine": [mine], "claimable": claimable, "all": [mine, *claimable]}[scope]
        in_scope = scope_condition(actor, Task.lane, Case.department, Case.branch)
    if not parts:
        return []
    past = _past(session, after) if after is not None else None
    queries = []
    for where in parts:
        query = select(Task).where(where)
        if past is not None:
            query = query.where(past)
        if in_scope is not None:  # a branch/department-scoped role sees its own cases' tasks
            query = query.join(Case, Case.id == Task.case_id).where(in_scope)
        if procedure:
            query = query.where(Task.procedure == procedure)
        queries.append(query)
    if len(queries) == 1:
        rows = session.scalars(_queue_order(queries[0], Task).limit(limit).offset(offset)).all()
        if scope == "held":
            return _with_holders(session, rows)
        return [task_summary(t) for t in rows]
    # Each part's first limit + offset tasks in its index order, merged.
    merged = union_all(
        *(select(_queue_order(q, Task).limit(limit + offset).subquery()) for q in queries)
    ).subquery()
    task = aliased(Task, merged)
    merged_rows = session.scalars(_queue_order(select(task), task).limit(limit).offset(offset))
    return [task_summary(t) for t in merged_rows]


def _with_holders(session: Session, tasks: Sequence[Task]) -> list[dict[str, Any]]:
    holders = usernames(session, (t.assignee_id for t in tasks))
    return [{**task_summary(t), "assignee": holders.get(t.assignee_id or 0)} for t in tasks]


def _queue_order(query: Any, task: Any) -> Any:
    """Overdue first: earliest due date first, tasks without a due date last; then oldest first.

    The id last makes the order total (tasks a step creates together share
    their creation time), as paging needs; ix_tasks_queue holds this order.
    """
    return query.order_by(task.due_at.is_(None), task.due_at, task.created_at, task.id)


def _past(session: Session, task_id: str) -> ColumnElement[bool]:
    """Tasks after the given one in queue order (`_queue_order`)."""
    anchor: Row[Any] | None = session.execute(
        select(Task.due_at, Task.created_at, Task.id).where(Task.id == task_id)
    ).one_or_none()
    if anchor is None:
        raise Invalid.field("after", "no task has this id")
    # Row comparisons over the queue index's columns, so the database seeks to
    # the anchor instead of reading the queue up to it. A task without a due
    # date compares greater on the first column; after such an anchor only
    # tasks without one follow, whose due_at (NULL) is left out of the row.
    if anchor.due_at is None:
        return tuple_(Task.due_at.is_(None), Task.created_at, Task.id) > tuple_(
            true(), anchor.created_at, anchor.id
        )
    return tuple_(Task.due_at.is_(None), Task.due_at, Task.created_at, Task.id) > tuple_(
        false(), anchor.due_at, anchor.created_at, anchor.id
    )


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "case_id": task.case_id,
        "procedure": task.procedure,
        "name": task.spec_name,
        "label": task.label,
        "role": task.lane,
        "form": task.form,
        "status": task.status,
        "assignee_id": task.assignee_id,
        "claimed_at": iso(task.claimed_at),
        "created_at": iso(task.created_at),
        "due_at": iso(task.due_at),
    }


def _due_in(diagram: CompiledDiagram, spec_name: str) -> str | None:
    meta = diagram.user_tasks.get(spec_name)
    return meta.due_in if meta else None
