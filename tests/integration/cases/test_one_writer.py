"""One writer per case: of two concurrent completions of one task exactly one wins."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from service.access.service import Actor, roles_of
from service.audit.models import AuditRecord
from service.cases import service as cases
from service.cases.models import Case, Task
from service.errors import Conflict
from tests.api.conftest import CONSENT


def _actor(deps, user_id: int, name: str) -> Actor:
    with deps.unit_of_work() as uow:
        return Actor(user_id, name, roles_of(uow.session, user_id))


def test_two_concurrent_completions_one_wins_one_conflicts(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    task_id = case["tasks"][0]["id"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def complete() -> None:
        barrier.wait()
        try:
            cases.complete_task(deps, desk, task_id, CONSENT)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "ok"]
    with deps.unit_of_work() as uow:
        stored = uow.session.get_one(Case, case["id"])
        assert stored.lock_version == 2
        open_tasks = uow.session.scalars(
            select(Task.spec_name).where(Task.case_id == case["id"], Task.status == "open")
        ).all()
        assert open_tasks == ["fill_form"]
        completions = uow.session.scalar(
            select(func.count()).where(
                AuditRecord.case_id == case["id"], AuditRecord.action == "task.complete"
            )
        )
        assert completions == 1
