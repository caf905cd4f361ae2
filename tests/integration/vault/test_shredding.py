"""Secure deletion by direct call: key first, then rows, files; one certificate; case resumed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.access.service import SYSTEM
from service.audit.models import AuditRecord
from service.errors import Forbidden, NotFound
from service.vault import certificates, holds
from service.vault import service as vault
from service.vault.models import (
    BlindIndexEntry,
    DataKey,
    DeletionCertificate,
    DeletionRequest,
    Subject,
    SubjectDocument,
    SubjectField,
)
from service.vault.shredding import shred_subject
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


@pytest.fixture
def desk(deps, users):
    install_shredding_procedure(deps)
    return actor_of(deps, users["frontdesk"], "frontdesk", "front_desk")


def _count(deps, model, **where) -> int:
    with deps.unit_of_work() as uow:
        session = uow.keystore if model is DataKey else uow.session
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return session.scalar(query)


def _shred(deps, job):
    with deps.unit_of_work() as uow:
        request = uow.session.get(DeletionRequest, job["request_id"])
        subject, case_id = request.subject, request.case_id
    return shred_subject(deps, SYSTEM, subject, case_id, job["request_id"])


def test_approved_deletion_destroys_key_rows_and_files_and_resumes_the_case(deps, desk):
    subject = active_subject(deps)
    case_id = deletion_case(deps, desk, subject)
    assert open_tasks(deps, case_id) == []  # waiting for the worker
    [job] = shred_jobs(deps)
    certificate_id = _shred(deps, job)
    assert certificate_id
    assert _count(deps, DataKey, subject=subject) == 0
    for model in (SubjectField, BlindIndexEntry, SubjectDocument):
        assert _count(deps, model, subject=subject) == 0
    assert [p for p in Path(deps.settings.document_store_dir).rglob("*") if p.is_file()] == []
    with deps.unit_of_work() as uow:
        assert uow.session.get(Subject, subject).status == "shredded"
        with pytest.raises(NotFound):
            vault.read_fields(uow, deps.keys, subject)
    assert open_tasks(deps, case_id) == ["confirm"]


def test_certificate_is_signed_and_states_what_was_destroyed(deps, desk):
    subject = active_subject(deps)
    deletion_case(deps, desk, subject)
    certificate_id = _shred(deps, shred_jobs(deps)[0])
    with deps.unit_of_work() as uow:
        row = uow.session.get(DeletionCertificate, certificate_id)
        text, signature, public_key = row.body, row.signature, row.public_key
    assert certificates.verify(text, signature, public_key)
    assert not certificates.verify(text.replace(subject, "sub_" + "0" * 32), signature, public_key)
    body = json.loads(text)
    assert body["subject"] == subject
    assert body["destroyed"]["fields"] == ["address", "id_number", "id_type", "mobile", "name"]
    assert body["destroyed"]["blind_index"] == ["id_number:resident_id", "mobile"]
    assert len(body["destroyed"]["documents"]) == 1
    assert body["destroyed"]["document_files_removed"] == 1
    assert body["destroyed"]["workflow_state_scrubbed"] == 0
    assert body["destroyed"]["data_key"]["kek_version"] == 1
    assert any("backups" in copy for copy in body["unreadable_copies"])


def test_running_the_deletion_again_changes_nothing_and_keeps_one_certificate(deps, desk):
    subject = active_subject(deps)
    case_id = deletion_case(deps, desk, subject)
    job = shred_jobs(deps)[0]
    first = _shred(deps, job)
    audit_before = _count(deps, AuditRecord)
    assert _shred(deps, job) == first
    assert _count(deps, DeletionCertificate) == 1
    assert _count(deps, AuditRecord) == audit_before
    assert open_tasks(deps, case_id) == ["confirm"]


def test_another_subject_is_untouched(deps, desk):
    other = active_subject(
        deps, dict(FORM, id_number=resident_id("11010519800101001"), mobile="13912345678")
    )
    subject = active_subject(deps)
    deletion_case(deps, desk, subject)
    _shred(deps, shred_jobs(deps)[0])
    with deps.unit_of_work() as uow:
        assert vault.read_fields(uow, deps.keys, other)["mobile"] == "+8613912345678"


def test_held_subject_is_stored_and_secured_then_destroyed_when_the_hold_ends(
    deps, desk, users, clock
):
    subject = active_subject(deps)
    officer = actor_of(deps, users["compliance"], "compliance", "compliance")
    holds.place_hold(
        deps, officer, subject, "retention", "contract dispute", clock() + timedelta(days=30)
    )
    case_id = deletion_case(deps, desk, subject)
    assert _shred(deps, shred_jobs(deps)[0]) is None
    assert _count(deps, DataKey, subject=subject) == 1
    with deps.unit_of_work() as uow:
        assert uow.session.get(Subject, subject).status == "held"
        with pytest.raises(Forbidden):
            vault.read_fields(uow, deps.keys, subject)
    assert holds.release_expired_holds(deps, SYSTEM) == 0
    clock.advance(days=31)
    assert holds.release_expired_holds(deps, SYSTEM) == 1
    jobs = shred_jobs(deps)
    assert len(jobs) == 2 and jobs[0] == jobs[1]
    assert _shred(deps, jobs[1])
    assert _count(deps, DataKey, subject=subject) == 0
    assert open_tasks(deps, case_id) == ["confirm"]


def test_audit_details_are_shredded_with_the_subject(deps, desk):
    subject = active_subject(deps)
    with deps.unit_of_work() as uow:
        blob = vault.encrypt_detail(uow, deps.keys, subject, {"before": {"mobile": "13812345678"}})
        assert vault.decrypt_detail(uow, deps.keys, subject, blob) == {
            "before": {"mobile": "13812345678"}
        }
    deletion_case(deps, desk, subject, document=None)
    _shred(deps, shred_jobs(deps)[0])
    with deps.unit_of_work() as uow, pytest.raises(NotFound):
        vault.decrypt_detail(uow, deps.keys, subject, blob)
