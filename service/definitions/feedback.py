"""Staff feedback on a procedure or one of its steps (mission section 6).

Feedback is about the procedure, never about a customer: text that looks like
it carries an ID number or a phone number is refused, so no personal data
ends up at rest in plaintext through a free-text box.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.service import Actor, usernames
from service.audit.service import Event, record, records_refusals
from service.cases.models import Case, Task
from service.definitions.models import ProcedureFeedback, ProcedureVersion
from service.definitions.versions import READ_ROLES, need_role
from service.deps import Deps
from service.errors import Invalid, NotFound

MAX_TEXT = 2000
# Resident ID numbers (15 or 18 characters), mainland mobiles, long digit runs.
_PERSONAL_LOOKING = re.compile(r"\d{17}[\dXx]|(?<!\d)1[3-9]\d{9}(?!\d)|\d{15}")
# How numbers are written to be read: "138 1234 5678", "110105-19491231-002X".
_DIGIT_GROUPING = re.compile(r"(?<=\d)[ \t\-.]([\dXx])")


def _looks_personal(text: str) -> bool:
    """Whether the text holds what looks like an ID or phone number, however it is written.

    Compatibility forms (full-width digits) are read as plain digits, and
    single spaces, hyphens and dots between digits as nothing.
    """
    plain = _DIGIT_GROUPING.sub(r"\1", unicodedata.normalize("NFKC", text))
    return _PERSONAL_LOOKING.search(plain) is not None


def leave_feedback(
    deps: Deps,
    actor: Actor,
    procedure: str,
    *,
    text: str,
    step: str | None = None,
    case_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    text = _clean_text(text)
    with deps.unit_of_work() as uow:
        given = ProcedureFeedback(
            procedure=procedure, text=text, author_id=actor.id, created_at=deps.now()
        )
        _attach(uow.session, given, step, case_id, task_id)
        uow.session.add(given)
        uow.session.flush()
        record(
            uow.session,
            actor,
            Event(
                action="procedure.feedback",
                procedure=procedure,
                case_id=given.case_id,
                task_id=given.task_id,
                detail={"feedback_id": given.id, "step": given.step},
            ),
            deps.now(),
        )
        uow.commit()
        return feedback_view(given, {actor.id: actor.username})


@records_refusals
def list_feedback(deps: Deps, actor: Actor, procedure: str) -> list[dict[str, Any]]:
    need_role(actor, READ_ROLES, "procedure.feedback.list", procedure=procedure)
    with deps.unit_of_work() as uow:
        return feedback_since(uow.session, procedure, None)


def feedback_since(session: Session, procedure: str, since: datetime | None) -> list[dict]:
    query = select(ProcedureFeedback).where(ProcedureFeedback.procedure == procedure)
    if since is not None:
        query = query.where(ProcedureFeedback.created_at >= since)
    rows = list(session.scalars(query.order_by(ProcedureFeedback.created_at).limit(500)))
    names = usernames(session, {r.author_id for r in rows})
    return [feedback_view(r, names) for r in rows]


def feedback_view(row: ProcedureFeedback, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "procedure": row.procedure,
        "step": row.step,
        "case_id": row.case_id,
        "task_id": row.task_id,
        "version_id": row.version_id,
        "author": names.get(row.author_id),
        "text": row.text,
        "created_at": row.created_at.isoformat(),
    }


def _clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid.field("text", "say what should change")
    if len(text) > MAX_TEXT:
        raise Invalid.field("text", f"at most {MAX_TEXT} characters")
    if _looks_personal(text):
        raise Invalid.field(
            "text", "feedback is about the procedure; leave out ID numbers and phone numbers"
        )
    return text


def _attach(
    session: Session,
    given: ProcedureFeedback,
    step: str | None,
    case_id: str | None,
    task_id: str | None,
) -> None:
    """Tie the feedback to a task (and so its step and case), a case, or the published version."""
    if task_id:
        task = session.get(Task, task_id)
        if task is None or task.procedure != given.procedure:
            raise Invalid.field("task_id", f"no task {task_id} of {given.procedure}")
        step, case_id = task.spec_name, task.case_id
    if case_id:
        case = session.get(Case, case_id)
        if case is None or case.procedure != given.procedure:
            raise Invalid.field("case_id", f"no case {case_id} of {given.procedure}")
        given.version_id = case.version_id
    else:
        given.version_id = session.scalar(
            select(ProcedureVersion.id)
            .where(ProcedureVersion.procedure == given.procedure)
            .order_by(ProcedureVersion.status != "published", ProcedureVersion.number.desc())
            .limit(1)
        )
        if given.version_id is None:
            raise NotFound(f"no procedure {given.procedure!r}")
    if step is not None and len(step) > 128:
        raise Invalid.field("step", "at most 128 characters")
    given.step, given.case_id, given.task_id = step, case_id, task_id
