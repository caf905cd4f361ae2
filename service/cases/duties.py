"""Separation of duties, enforced by the service whatever the diagram says.

One rule set for every procedure:

- A review step (a review, an approval, a second approval) can never be done
  by the person who started (collected, requested) the case, nor by anyone who
  did another step of the case: the collector cannot review their own
  collection, and the reviewer cannot give the second approval.
- Whether a step is a review is read from what it does, not from where the
  diagram draws it: a step in a review role's lane, a step whose form carries
  a decision (approve / reject), or a step named as a review or approval.
  Moving the review into the requester's lane therefore changes nothing.
- Compliance approving a version can never be its author (`check_not_author`).
- A role held with a department or branch scope only acts on cases started
  in that department or branch, unless break-glass is open (which never lifts
  the rules above).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.scope import out_of_scope_reason
from service.access.service import REVIEW_ROLES, Actor
from service.cases.models import Case, Task
from service.definitions.models import ProcedureVersion
from service.errors import Forbidden

REVIEW_NAME = re.compile(r"review|approv|second.?opinion|审核|审批|批准|复核", re.IGNORECASE)
DECISION_VALUES = frozenset({"approve", "approved", "reject", "rejected"})


def check(
    session: Session,
    actor: Actor,
    task: Task,
    case: Case,
    case_tasks: list[dict[str, Any]] | None = None,
) -> None:
    """Raise Forbidden with the reason if the actor may not act on this task.

    ``case_tasks``: the case's task rows, when the caller has read them already.
    """
    check_scope(session, actor, task.lane, case)
    if not is_review_step(session, task, case):
        return
    if case.started_by == actor.id:
        raise Forbidden("separation of duties: you started this case, so you cannot review it")
    other = _other_step_done_by(session, actor, task, case, case_tasks)
    if other is not None:
        raise Forbidden(
            f"separation of duties: you did the step {other[0]!r} of this case, "
            f"so you cannot do its review step {task.spec_name!r}"
        )


def _other_step_done_by(
    session: Session,
    actor: Actor,
    task: Task,
    case: Case,
    case_tasks: list[dict[str, Any]] | None,
) -> tuple[str, str] | None:
    """(name, label) of a step of the case other than this one that the actor completed."""
    if case_tasks is not None:
        for row in case_tasks:
            if (
                row["completed_by"] == actor.id
                and row["status"] == "completed"
                and row["spec_name"] != task.spec_name
            ):
                return row["spec_name"], row["label"]
        return None
    found = session.execute(
        select(Task.spec_name, Task.label)
        .where(
            Task.case_id == case.id,
            Task.completed_by == actor.id,
            Task.status == "completed",
            Task.spec_name != task.spec_name,
        )
        .limit(1)
    ).first()
    return (found[0], found[1]) if found is not None else None


def check_not_author(actor: Actor, author_id: int | None) -> None:
    """Whoever drafted a version can never approve it."""
    if author_id is not None and actor.id == author_id:
        raise Forbidden("separation of duties: you drafted this version, so you cannot approve it")


def is_review_step(session: Session, task: Task, case: Case) -> bool:
    if task.lane in REVIEW_ROLES:
        return True
    if REVIEW_NAME.search(f"{task.spec_name} {task.label}"):
        return True
    version = session.get(ProcedureVersion, case.version_id)
    schema = version.forms.get(task.form or "") if version else None
    return _has_decision(schema or {})


def _has_decision(schema: dict[str, Any]) -> bool:
    properties = schema.get("properties") or {}
    for name, prop in properties.items():
        if name in ("decision", "approval", "approved"):
            return True
        if isinstance(prop, dict) and DECISION_VALUES & set(prop.get("enum") or []):
            return True
    return False


def check_scope(session: Session, actor: Actor, role: str, case: Case) -> None:
    """A role held for one department or branch acts only on that one's cases."""
    reason = out_of_scope_reason(actor, role, case.department, case.branch)
    if reason is not None:
        raise Forbidden(reason)
