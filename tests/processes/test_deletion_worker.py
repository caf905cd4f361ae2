"""The shipped deletion procedure end to end through a real Celery worker on real Redis."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.cases.models import Case
from service.vault.models import DataKey, DeletionCertificate, Subject, SubjectField
from tests.conftest import need_service
from tests.integration.worker_harness import wait_for
from tests.processes.test_deletion import _approved_by_both

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_the_case_waits_for_the_worker_and_the_subject_is_unrecoverable(
    api, deps, customer, more_users, tmp_path
):
    need_service("redis")
    from tests.integration.worker_harness import deletion_worker, flush_broker, publish_jobs

    flush_broker()
    case_id = _approved_by_both(api)
    with deps.unit_of_work() as uow:
        assert uow.session.get_one(Case, case_id).status == "running"
    worker = deletion_worker(deps.settings, tmp_path / "worker.log")
    try:
        publish_jobs(deps)

        def ended() -> bool:
            with deps.unit_of_work() as uow:
                return uow.session.get_one(Case, case_id).status == "completed"

        assert wait_for(ended, timeout=120), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.stop()
    with deps.unit_of_work() as uow:
        assert uow.session.get_one(Case, case_id).outcome == "deleted"
        assert uow.keystore.get(DataKey, customer) is None
        assert uow.session.get_one(Subject, customer).status == "shredded"
        assert (
            uow.session.scalars(select(SubjectField).where(SubjectField.subject == customer)).all()
            == []
        )
        assert len(uow.session.scalars(select(DeletionCertificate.id)).all()) == 1
    case = api("auditor").get(f"/api/v1/cases/{case_id}").body
    assert "shredding_done" in case["completed_steps"]
