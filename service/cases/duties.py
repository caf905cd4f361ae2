"""Separation of duties, enforced by the service whatever the diagram says.

A task in a review role's lane (reviewer, data officer, supervisor,
compliance) can never be done by the person who started the case, nor by
anyone who did a task of the case in another lane: the collector cannot
review their own collection, and the reviewer cannot give the second approval.
A diagram edit that moves a step between lanes cannot remove this, because the
rule reads who did what, not how the diagram is drawn.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.service import REVIEW_ROLES, Actor
from service.cases.models import Case, Task
from service.errors import Forbidden


def check(session: Session, actor: Actor, task: Task, case: Case) -> None:
    """Raise Forbidden with the reason if the actor may not act on this task."""
    if task.lane not in REVIEW_ROLES:
        return
    if case.started_by == actor.id:
        raise Forbidden("separation of duties: you started this case, so you cannot review it")
    other_lane = session.scalar(
        select(Task.lane)
        .where(
            Task.case_id == case.id,
            Task.completed_by == actor.id,
            Task.status == "completed",
            Task.lane != task.lane,
        )
        .limit(1)
    )
    if other_lane is not None:
        raise Forbidden(
            f"separation of duties: you did a {other_lane} step of this case, "
            f"so you cannot do its {task.lane} step"
        )
