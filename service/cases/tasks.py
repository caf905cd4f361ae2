"""The task mirror: human tasks copied out of the engine into an indexed table."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.access.service import REVIEW_ROLES, Actor
from service.cases.models import Case, Task
from service.clock import iso
from service.engine import CompiledDiagram, Run

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
) -> list[dict[str, Any]]:
    """My claimed tasks (``mine``), open tasks for my roles (``claimable``), or both (``all``)."""
    mine = (Task.assignee_id == actor.id) & (Task.status == "claimed")
    claimable = (Task.status == "open") & Task.lane.in_(sorted(actor.roles))
    where = {"mine": mine, "claimable": claimable, "all": or_(mine, claimable)}[scope]
    query = select(Task).where(where)
    if procedure:
        query = query.where(Task.procedure == procedure)
    # Overdue first: earliest due date first, tasks without a due date last.
    query = query.order_by(Task.due_at.is_(None), Task.due_at, Task.created_at)
    return [task_summary(t) for t in session.scalars(query.limit(limit).offset(offset))]


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
        "created_at": iso(task.created_at),
        "due_at": iso(task.due_at),
    }


def _due_in(diagram: CompiledDiagram, spec_name: str) -> str | None:
    meta = diagram.user_tasks.get(spec_name)
    return meta.due_in if meta else None
