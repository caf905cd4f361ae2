"""Timers are fired by the periodic worker job, in a real Celery worker process."""

from __future__ import annotations

from datetime import UTC, datetime

from service.access.service import Actor, roles_of
from service.cases import service as cases
from service.cases.models import Case
from tests.integration.worker_harness import wait_for


def _case_outcome(deps, case_id: str) -> str | None:
    with deps.unit_of_work() as uow:
        return uow.session.get_one(Case, case_id).outcome


def test_beat_fires_a_due_boundary_timer(
    deps, clock, users, install_procedure, broker_url, start_worker
):
    clock.now = datetime.now(UTC)  # the worker runs on the real clock
    install_procedure("timed_step")
    with deps.unit_of_work() as uow:
        desk = Actor(users["frontdesk"], "frontdesk", roles_of(uow.session, users["frontdesk"]))
    case = cases.start_case(deps, desk, "timed_step")
    assert case["status"] == "running"
    start_worker(broker_url)
    assert wait_for(lambda: _case_outcome(deps, case["id"]) == "timed_out", timeout=90)
