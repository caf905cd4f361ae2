"""Moving waiting cases to the published version: a dry run, then an explicit migrate.

The dry run says, per running case, whether it can move and why not (the
engine's spec diff). Migrating takes each case's one-writer lock, re-checks,
moves the workflow onto the new spec, re-mirrors its open tasks, and writes
one audit record per case, moved or not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.access.service import Actor
from service.audit.service import Event, record, records_refusals
from service.cases.models import Case, Task, lock_case
from service.cases.tasks import sync_tasks
from service.definitions.models import ProcedureVersion
from service.definitions.service import compile_version, published_version
from service.definitions.versions import get_version, need_role
from service.deps import ConnectorContext, Deps
from service.engine import CompiledDiagram, Run
from service.engine.migrate import MigrationRefused, check_migration, migrate_state
from service.errors import Conflict, Invalid

MIGRATE_ROLES = frozenset({"process_owner", "compliance"})
MAX_CASES = 1000


@records_refusals
def dry_run(
    deps: Deps, actor: Actor, procedure: str, target_id: int | None = None
) -> dict[str, Any]:
    """Per running case of an older version: can it move to the target, and why not."""
    need_role(actor, MIGRATE_ROLES, "case.migrate.dry_run", procedure=procedure)
    with deps.unit_of_work() as uow:
        target = _target(uow.session, procedure, target_id)
        new = compile_version(deps.engine, target)
        cases = []
        for case in _waiting_cases(uow.session, procedure, target.id, None):
            old_version = uow.session.get_one(ProcedureVersion, case.version_id)
            old = compile_version(deps.engine, old_version)
            check = check_migration(deps.engine, case.state, old, new)
            cases.append({"case_id": case.id, "from_version": old_version.number} | check.as_dict())
        return {"target": {"id": target.id, "number": target.number}, "cases": cases}


@records_refusals
def migrate_cases(
    deps: Deps,
    actor: Actor,
    procedure: str,
    target_id: int | None = None,
    case_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Move the named (default: all) waiting cases that can move; one transaction each."""
    need_role(actor, MIGRATE_ROLES, "case.migrate", procedure=procedure)
    with deps.unit_of_work() as uow:
        target = _target(uow.session, procedure, target_id)
        ids = [c.id for c in _waiting_cases(uow.session, procedure, target.id, case_ids)]
        summary = {"id": target.id, "number": target.number}
    moved, not_moved = [], []
    for case_id in ids:
        reasons = _migrate_one(deps, actor, summary["id"], case_id)
        if reasons:
            not_moved.append({"case_id": case_id, "reasons": reasons})
        else:
            moved.append(case_id)
    return {"target": summary, "moved": moved, "not_moved": not_moved}


def _migrate_one(deps: Deps, actor: Actor, target_id: int, case_id: str) -> list[str]:
    """[] when the case moved; otherwise the reasons, audited after the rollback."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        case = lock_case(uow.session, case_id)
        target = uow.session.get_one(ProcedureVersion, target_id)
        old_version = uow.session.get_one(ProcedureVersion, case.version_id)
        new = compile_version(deps.engine, target)
        event = _event(case, old_version, target)
        if case.status != "running" or case.version_id == target.id:
            return [f"the case is {case.status} on version {old_version.number}"]
        try:
            ctx = ConnectorContext(uow, deps, case.id, case.subject, now)
            old = compile_version(deps.engine, old_version)
            run = migrate_state(deps.engine, case.state, old, new, ctx)
        except MigrationRefused as refused:
            reasons = refused.reasons
        else:
            _save_moved(uow.session, case, run, target, now)
            _remirror(uow.session, case, run, new, now)
            record(uow.session, actor, event, now)
            uow.commit()
            return []
    return _record_not_moved(deps, actor, event, reasons)


def _record_not_moved(deps: Deps, actor: Actor, event: Event, reasons: list[str]) -> list[str]:
    with deps.unit_of_work() as uow:
        reason = "; ".join(reasons)[:500]
        record(
            uow.session,
            actor,
            Event(**(event.__dict__ | {"outcome": "not_moved", "reason": reason})),
            deps.now(),
        )
        uow.commit()
    return reasons


def _save_moved(session: Session, case: Case, run: Run, target: ProcedureVersion, now: Any) -> None:
    expected = case.lock_version
    values: dict[str, Any] = dict(
        state=run.serialize(),
        next_timer_at=run.next_timer_due(),
        updated_at=now,
        lock_version=expected + 1,
        version_id=target.id,
    )
    if run.completed:
        values |= {"status": "completed", "outcome": run.end_event, "completed_at": now}
    result = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.lock_version == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"case {case.id} was changed by someone else; run the migration again")
    session.expire(case)


def _remirror(session: Session, case: Case, run: Run, new: CompiledDiagram, now: Any) -> None:
    """Open tasks keep their ids; their label, lane and form follow the new version."""
    for human in run.ready_tasks():
        row = session.get(Task, human.id)
        if row is None or row.status not in ("open", "claimed"):
            continue
        if row.lane != human.lane:
            # The claimer may not hold the new role.
            row.status, row.assignee_id, row.claimed_at = "open", None, None
        row.spec_name, row.label, row.lane, row.form = (
            human.spec_name,
            human.label,
            human.lane,
            human.form,
        )
    session.flush()
    sync_tasks(session, session.get_one(Case, case.id), run, new, now)


def _waiting_cases(
    session: Session, procedure: str, target_id: int, case_ids: list[str] | None
) -> list[Case]:
    query = select(Case).where(
        Case.procedure == procedure, Case.status == "running", Case.version_id != target_id
    )
    if case_ids is not None:
        query = query.where(Case.id.in_(case_ids))
    return list(session.scalars(query.order_by(Case.started_at).limit(MAX_CASES)))


def _target(session: Session, procedure: str, target_id: int | None) -> ProcedureVersion:
    if target_id is None:
        return published_version(session, procedure)
    target = get_version(session, target_id)
    if target.procedure != procedure or target.status != "published":
        raise Invalid.field("target", "cases move only to the procedure's published version")
    return target


def _event(case: Case, old: ProcedureVersion, target: ProcedureVersion) -> Event:
    return Event(
        action="case.migrate",
        procedure=case.procedure,
        version_hash=target.content_hash,
        case_id=case.id,
        subject=case.subject,
        detail={"from_version": old.number, "to_version": target.number},
    )
