"""How many subjects one deletion worker shreds per second (run with -m soak -s)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from service.vault.models import DeletionCertificate, DeletionRequest
from tests.conftest import need_service
from tests.integration.vault.helpers import (
    FORM,
    active_subject,
    actor_of,
    deletion_case,
    install_shredding_procedure,
    resident_id,
)
from tests.integration.worker_harness import deletion_worker, flush_broker, publish_jobs

SUBJECTS = 200


@pytest.mark.soak
def test_one_worker_shreds_subjects_at_a_measured_rate(deps, settings, users, tmp_path):
    need_service("redis")
    flush_broker()
    install_shredding_procedure(deps)
    desk = actor_of(deps, users["frontdesk"], "frontdesk", "front_desk")
    for index in range(SUBJECTS):
        form = dict(
            FORM, id_number=resident_id(f"11010519800101{index:03d}"), mobile=f"139{index:08d}"
        )
        deletion_case(deps, desk, active_subject(deps, form))
    worker = deletion_worker(settings, tmp_path / "worker.log")
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        started = time.monotonic()
        publish_jobs(deps)
        while _completed(deps) < SUBJECTS:
            assert worker.process.poll() is None, "the worker died"
            assert time.monotonic() - started < 600
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    with deps.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DeletionCertificate)) == SUBJECTS
    print(
        f"\nshred_per_s={SUBJECTS / elapsed:.1f} ({SUBJECTS} subjects, one worker, "
        f"{deps.db.engine.dialect.name})"
    )


def _completed(deps) -> int:
    with deps.unit_of_work() as uow:
        return uow.session.scalar(
            select(func.count())
            .select_from(DeletionRequest)
            .where(DeletionRequest.state == "completed")
        )
