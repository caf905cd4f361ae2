"""Deletions in batches: one job takes the pending ones along; the key store is purged first."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.access.service import SYSTEM
from service.audit.models import AuditRecord
from service.vault import certificates
from service.vault.models import DataKey, DeletionCertificate, DeletionRequest
from service.vault.shredding import resume_stalled, shred_job
from tests.integration.vault.helpers import (
    FORM,
    active_subject,
    actor_of,
    deletion_case,
    install_shredding_procedure,
    open_tasks,
    resident_id,
    shred_jobs,
)


class Interrupted(Exception):
    """Stands for a worker stopped at a step; the state machine must carry on from there."""


@pytest.fixture
def desk(deps, users):
    install_shredding_procedure(deps)
    return actor_of(deps, users["frontdesk"], "frontdesk", "front_desk")


def _subject(deps, index: int) -> str:
    form = dict(FORM, id_number=resident_id(f"11010519800101{index:03d}"), mobile=f"139{index:08d}")
    return active_subject(deps, form)


def _count(deps, model, **where) -> int:
    with deps.unit_of_work() as uow:
        session = uow.keystore if model is DataKey else uow.session
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return session.scalar(query)


def _states(deps) -> list[str]:
    with deps.unit_of_work() as uow:
        return sorted(uow.session.scalars(select(DeletionRequest.state)))


def test_one_job_shreds_every_pending_deletion_and_their_own_jobs_find_them_done(deps, desk):
    cases = [deletion_case(deps, desk, _subject(deps, n), document=None) for n in range(3)]
    request_ids = [job["request_id"] for job in shred_jobs(deps)]
    assert len(request_ids) == 3

    first = shred_job(deps, SYSTEM, request_ids[0])

    assert first and _states(deps) == ["completed"] * 3
    assert _count(deps, DeletionCertificate) == 3 and _count(deps, DataKey) == 0
    assert all(open_tasks(deps, case_id) == ["confirm"] for case_id in cases)
    audit_before = _count(deps, AuditRecord)
    found = certificates.ids_for_requests(deps, request_ids)
    assert [shred_job(deps, SYSTEM, request_id) for request_id in request_ids] == [
        found[request_id] for request_id in request_ids
    ]
    assert _count(deps, AuditRecord) == audit_before
    assert _count(deps, DeletionCertificate) == 3


def test_a_job_leaves_a_held_subject_stored_and_shreds_the_others(deps, desk, users, clock):
    from datetime import timedelta

    from service.vault import holds

    held, free = _subject(deps, 1), _subject(deps, 2)
    officer = actor_of(deps, users["compliance"], "compliance", "compliance")
    holds.place_hold(deps, officer, held, "retention", "dispute", clock() + timedelta(days=30))
    deletion_case(deps, desk, held, document=None)
    deletion_case(deps, desk, free, document=None)
    with deps.unit_of_work() as uow:
        request_of = dict(
            uow.session.execute(select(DeletionRequest.subject, DeletionRequest.id)).tuples().all()
        )

    assert shred_job(deps, SYSTEM, request_of[held]) is None

    assert _states(deps) == ["completed", "held"]
    assert _count(deps, DataKey, subject=held) == 1 and _count(deps, DataKey, subject=free) == 0
    issued = certificates.ids_for_requests(deps, list(request_of.values()))
    assert list(issued) == [request_of[free]]


def test_a_key_is_gone_from_the_key_store_files_before_its_certificate_even_after_a_stop(
    deps, desk, backend
):
    if backend != "sqlite":
        pytest.skip("the key store's files can be read only on SQLite")
    subject = _subject(deps, 7)
    with deps.unit_of_work() as uow:
        wrapped = bytes(uow.keystore.get(DataKey, subject).wrapped_key)
    deletion_case(deps, desk, subject, document=None)
    request_id = shred_jobs(deps)[0]["request_id"]

    def stop_after_key_destroyed(point: str) -> None:
        if point == "after_key_destroyed":
            raise Interrupted(point)

    with pytest.raises(Interrupted):
        shred_job(deps, SYSTEM, request_id, checkpoint=stop_after_key_destroyed)
    assert _states(deps) == ["key_destroyed"] and _count(deps, DeletionCertificate) == 0

    certificate_id = shred_job(deps, SYSTEM, request_id)

    assert certificate_id
    keystore = Path(str(deps.db.keystore_engine.url.database))
    for path in (keystore, keystore.with_name(keystore.name + "-wal")):
        assert not path.exists() or wrapped not in path.read_bytes(), path.name
    body = certificates.show(deps, SYSTEM, certificate_id)["body"]
    assert body["destroyed"]["data_key"]["purged_from_key_store"] is True


def test_a_deletion_whose_job_was_lost_is_finished_by_the_sweep_once_it_has_stalled(
    deps, desk, clock
):
    from workers.celery_app import app
    from workers.deletion import STALLED_AFTER, SWEEP_JOB

    case_id = deletion_case(deps, desk, _subject(deps, 7), document=None)
    [job] = shred_jobs(deps)  # published, then lost: no worker ever runs it
    assert resume_stalled(deps, SYSTEM, STALLED_AFTER) == []
    assert _states(deps) == ["approved"]
    clock.advance(minutes=16)
    assert resume_stalled(deps, SYSTEM, STALLED_AFTER) == [job["request_id"]]
    assert _states(deps) == ["completed"]
    assert certificates.ids_for_requests(deps, [job["request_id"]])[job["request_id"]]
    assert open_tasks(deps, case_id) == ["confirm"]  # the case resumed past its wait
    assert resume_stalled(deps, SYSTEM, STALLED_AFTER) == []
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert SWEEP_JOB in schedule
