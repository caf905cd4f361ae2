"""Read-side use cases: a task with its form, a case with its history."""

from __future__ import annotations

import copy
import functools
from typing import Any

from sqlalchemy import select

from service.access.permissions import ROLE_PERMISSIONS, allows
from service.access.scope import out_of_scope_reason
from service.access.service import REVIEW_ROLES, Actor
from service.audit.service import Event, case_history, record
from service.cases import duties
from service.cases.models import CASE_REFERENCE, Case, Task, starting_with
from service.cases.tasks import list_tasks, task_summary
from service.definitions.models import ProcedureVersion
from service.definitions.service import (
    compile_version,
    diagram_for,
    list_procedures,
    published_version,
)
from service.deps import Deps
from service.engine import Run
from service.errors import Forbidden, Invalid, NotFound
from service.notifications import outbox as notifications
from service.vault import changes
from service.vault import service as vault

OVERSIGHT_ROLES = frozenset({"compliance", "auditor", "admin"})


def task_list(
    deps: Deps,
    actor: Actor,
    scope: str,
    procedure: str | None,
    limit: int,
    offset: int,
    after: str | None = None,
) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        return list_tasks(
            uow.session,
            actor,
            scope=scope,
            procedure=procedure,
            limit=limit,
            offset=offset,
            after=after,
        )


def show_task(deps: Deps, actor: Actor, task_id: str) -> dict[str, Any]:
    """The task, its form schema, and the case's values the task needs.

    A reviewer who may act on the task sees the subject's values in clear
    (they check them) and that read is audited; everyone else sees them masked.
    """
    with deps.unit_of_work() as uow:
        task = uow.session.get(Task, task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        case = uow.session.get_one(Case, task.case_id)
        _check_can_see(actor, task.lane, case)
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        view = task_summary(task)
        view["form_schema"] = version.forms.get(task.form or "")
        view["case_data"] = _case_data(deps, version, case)
        view["returned_reason"] = _returned_reason(uow.session, task, view["case_data"])
        view["subject_fields"] = view["prefill"] = None
        if case.subject and vault.subject_status(uow, case.subject) != "shredded":
            shown = _subject_view(uow, deps, actor, task, case, case.subject, version)
            view["subject_fields"], view["subject_masked"], requested = shown
            if requested is not None:
                view["requested_values"] = requested
            view["prefill"] = _draft_to_correct(uow, deps, actor, task, case, version)
        uow.commit()
        return view


def show_case(deps: Deps, actor: Actor, case_id: str) -> dict[str, Any]:
    from service.cases.service import case_summary

    with deps.unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        _check_can_see_case(uow.session, actor, case)
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        view = case_summary(uow.session, case)
        view["started_by"] = case.started_by  # a staff id: the page offers the requester's actions
        view["version_hash"] = version.content_hash
        view["version_number"] = version.number
        view["history"] = case_history(uow.session, case_id)
        # Which step each task's record is about, by the step's name in the diagram.
        labels = uow.session.execute(select(Task.id, Task.label).where(Task.case_id == case_id))
        steps: dict[str, str] = {task_id: label for task_id, label in labels}
        for entry in view["history"]:
            entry["step"] = steps.get(entry["task_id"])
        view["notifications"] = notifications.of_case(uow, case_id)
        view["completed_steps"] = deps.engine.inspect(
            compile_version(deps.engine, version), case.id, case.state, Run.completed_steps
        )
        return view


def procedures_to_start(deps: Deps, actor: Actor) -> list[dict[str, Any]]:
    """The published procedures, each saying whether the actor starts its cases by hand.

    They do when they may start cases at all and hold the role of a lane a start
    event of its published diagram sits in (a periodic review is started for the
    procedure it reviews, not this way). Starting checks the same at the first
    steps' lanes; this is what the start form offers.
    """
    from service.definitions.review import REVIEW_PROCEDURE

    may_start = allows(actor.roles, "case.start")
    with deps.db.read_unit_of_work() as uow:
        procedures = list_procedures(uow.session)
        for listed in procedures:
            startable = may_start and listed["procedure"] != REVIEW_PROCEDURE
            if startable:
                # Compiled once per version and kept (as for its cases), so no reads here.
                load = functools.partial(published_version, uow.session, listed["procedure"])
                diagram = diagram_for(deps.engine, listed["content_hash"], load)
                startable = bool(diagram.start_lanes & actor.roles)
            listed["startable"] = startable
    return procedures


def _check_can_see_case(session: Any, actor: Actor, case: Case) -> None:
    """Its starter, oversight roles, and whoever holds one of its lanes' roles in scope.

    Those who oversee requests (extend their deadlines, take back their tasks:
    supervisors, data officers) see every case in their scope, escalated or not.
    """
    if case.started_by == actor.id or actor.roles & OVERSIGHT_ROLES:
        return
    lanes = set(session.scalars(select(Task.lane).where(Task.case_id == case.id)))
    _check_lanes(actor, lanes | OVERSEEING_ROLES, case, "you have no role in this case")


# The roles that extend requests' deadlines; a supervisor also takes back tasks.
OVERSEEING_ROLES = frozenset(
    role for role, granted in ROLE_PERMISSIONS.items() if "case.extend" in granted
)


def _check_lanes(actor: Actor, lanes: set[str], case: Case, no_role: str) -> None:
    """Refused unless the actor holds one of these lanes' roles within its scope."""
    held = sorted(lanes & actor.roles)
    if not held:
        raise Forbidden(no_role)
    reasons = [out_of_scope_reason(actor, r, case.department, case.branch) for r in held]
    if all(reasons):
        raise Forbidden(str(reasons[0]))


def find_cases(
    deps: Deps, actor: Actor, *, reference: str | None, mine: bool, limit: int
) -> list[dict[str, Any]]:
    """Cases by the reference a customer quotes (a case id's first eight characters), or the
    cases the actor started, newest first; only those the actor may see (as `show_case`)."""
    from service.cases.service import case_summary

    query = select(Case).order_by(Case.started_at.desc(), Case.id).limit(limit)
    if reference is not None:
        if not CASE_REFERENCE.fullmatch(reference):
            raise Invalid.field("reference", "eight characters 0-9 and a-f (a case's reference)")
        query = query.where(*starting_with(Case.id, reference))
    if mine:
        query = query.where(Case.started_by == actor.id)
    with deps.unit_of_work() as uow:
        found = []
        for case in uow.session.scalars(query):
            try:
                _check_can_see_case(uow.session, actor, case)
            except Forbidden:
                continue
            found.append(case_summary(uow.session, case))
        return found


def _check_can_see(actor: Actor, lane: str, case: Case) -> None:
    if case.started_by == actor.id or actor.roles & OVERSIGHT_ROLES:
        return
    _check_lanes(actor, {lane}, case, "this task belongs to a role you do not hold")


def _subject_view(
    uow: Any,
    deps: Deps,
    actor: Actor,
    task: Task,
    case: Case,
    subject: str,
    version: ProcedureVersion,
) -> tuple[dict[str, str], bool, dict[str, str] | None]:
    """(the subject's values, whether masked, the values a pending change asks for or None).

    The reviewer who may decide the step sees both in clear (they check the
    change is genuine against the record and the proof), in one audited read;
    anyone else sees both masked.
    """
    requested = changes.pending_values(uow, deps.keys, case.id, subject)
    if task.lane in REVIEW_ROLES and task.lane in actor.roles and task.status != "completed":
        try:
            duties.check(uow.session, actor, task, case)
        except Forbidden:
            return _masked(uow, deps, subject, requested)
        asked = [changes.NEW_PREFIX + name for name in sorted(requested or {})]
        values = _read_for_task(uow, deps, actor, task, case, version, "review", None, asked)
        return values, False, requested
    return _masked(uow, deps, subject, requested)


def _returned_reason(session: Any, task: Task, case_data: dict[str, Any]) -> str | None:
    """Why a review sent this step back, when it did: the step was done before in this case
    and the case's last review decision (every review form's ``decision`` and ``reason``)
    is a return. A review step itself is never "returned"."""
    if task.lane in REVIEW_ROLES or task.status not in ("open", "claimed"):
        return None
    if case_data.get("decision") != "return" or not case_data.get("reason"):
        return None
    done_before = session.scalar(
        select(Task.id).where(
            Task.case_id == task.case_id,
            Task.spec_name == task.spec_name,
            Task.status == "completed",
        )
    )
    return str(case_data["reason"]) if done_before else None


def _draft_to_correct(
    uow: Any, deps: Deps, actor: Actor, task: Task, case: Case, version: ProcedureVersion
) -> dict[str, str] | None:
    """What was entered on a form returned for correction, for whoever may now correct it.

    The customer's record is still the case's draft (a collection before entry),
    and the task is a form of its fields the actor may complete: they get the
    draft's values in clear to correct rather than type again; the read is
    audited like a reviewer's.
    """
    if task.status not in ("open", "claimed") or task.lane in REVIEW_ROLES:
        return None
    if (task.status == "claimed" and task.assignee_id != actor.id) or task.lane not in actor.roles:
        return None
    properties = (version.forms.get(task.form or "") or {}).get("properties", {})
    wanted = sorted(set(properties) & set(vault.PERSONAL_FIELDS))
    if not wanted or vault.subject_status(uow, str(case.subject)) != "draft":
        return None
    try:
        duties.check(uow.session, actor, task, case)
    except Forbidden:
        return None
    return _read_for_task(uow, deps, actor, task, case, version, "correction", wanted)


def _read_for_task(
    uow: Any,
    deps: Deps,
    actor: Actor,
    task: Task,
    case: Case,
    version: ProcedureVersion,
    why: str,
    fields: list[str] | None,
    also: list[str] | tuple[str, ...] = (),
) -> dict[str, str]:
    """The case's customer's values (these fields, or all) in clear for whoever works the
    task, the read audited with its purpose (``review: <step>``); ``also`` names more
    values shown with them (a change's requested ones)."""
    values = vault.read_fields(uow, deps.keys, str(case.subject), fields)
    record(
        uow.session,
        actor,
        Event(
            action="subject.read",
            procedure=case.procedure,
            version_hash=version.content_hash,
            case_id=case.id,
            task_id=task.id,
            subject=case.subject,
            fields=sorted(values) + list(also),
            purpose=f"{why}: {task.spec_name}",
        ),
        deps.now(),
    )
    return values


def _masked(
    uow: Any, deps: Deps, subject: str, requested: dict[str, str] | None
) -> tuple[dict[str, str], bool, dict[str, str] | None]:
    if requested is not None:
        requested = vault.masked(requested)
    return vault.read_masked(uow, deps.keys, subject), True, requested


def _case_data(deps: Deps, version: ProcedureVersion, case: Case) -> dict[str, Any]:
    diagram = compile_version(deps.engine, version)
    data = deps.engine.inspect(diagram, case.id, case.state, lambda run: run.data)
    # A copy: the run may be kept for the case's next step, and the view is the caller's.
    return copy.deepcopy({k: v for k, v in data.items() if not k.startswith("_")})
