"""Proof filed with the request itself: held by the case's own key until the case knows its subject.

A deletion request is filed with its proof before the form naming the customer
is sent. The documents the form lists then move under the subject's data key,
the others are destroyed, and so is the case key; a request withdrawn before
then leaves neither key nor document behind.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditRecord
from service.cases import service as cases
from service.cases.lifecycle import withdraw_case
from service.cases.models import Case
from service.cases.personal import take_personal_data
from service.definitions.models import ProcedureVersion
from service.errors import Conflict, Forbidden, NotFound
from service.vault import case_documents, proofs
from service.vault import service as vault
from service.vault.crypto import DecryptionError
from service.vault.documents import decrypt_document
from service.vault.filestore import LocalFileStore
from service.vault.models import CaseDocument, CaseKey, SubjectDocument
from tests.integration.vault.helpers import FORM, PDF, active_subject, actor_of, open_task

SCAN = b"\xff\xd8\xff\xe0" + b"\x00" * 32 + b"scan of a signed form"
REQUEST = {"id_type": "resident_id", "id_number": FORM["id_number"], "reason": "account_closed"}


@pytest.fixture
def desk(deps, users):
    return actor_of(deps, users["frontdesk"], "frontdesk", "front_desk")


@pytest.fixture
def reviewer(deps, users):
    return actor_of(deps, users["reviewer"], "reviewer", "reviewer")


def _deletion_request(deps, desk) -> str:
    return cases.start_case(deps, desk, "deletion")["id"]


def _upload(deps, actor, case_id: str, data: bytes = PDF, name: str = "proof.pdf") -> str:
    return proofs.upload_document(deps, actor, case_id, name, data)["id"]


def _file_request(deps, desk, case_id: str, documents: list[str]) -> dict:
    task = open_task(deps, case_id, "file_deletion_request")
    return cases.complete_task(deps, desk, task, dict(REQUEST, documents=documents))


def _stored_files(deps) -> set[str]:
    root = LocalFileStore(deps.settings.document_store_dir).root
    return {path.name for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _case_key_exists(deps, case_id: str) -> bool:
    with deps.unit_of_work() as uow:
        return uow.keystore.get(CaseKey, case_id) is not None


def _rows(deps, model, case_id: str) -> list:
    with deps.unit_of_work() as uow:
        rows = list(uow.session.scalars(select(model).where(model.case_id == case_id)))
        uow.session.expunge_all()  # kept as loaded, past the unit of work's rollback
        return rows


def _audit(deps, case_id: str, action: str) -> list[AuditRecord]:
    with deps.unit_of_work() as uow:
        rows = list(
            uow.session.scalars(
                select(AuditRecord).where(
                    AuditRecord.case_id == case_id, AuditRecord.action == action
                )
            )
        )
        uow.session.expunge_all()
        return rows


def test_proof_filed_with_the_request_moves_under_the_subject_key_when_the_form_names_it(
    deps, desk, reviewer
):
    subject = active_subject(deps)
    case_id = _deletion_request(deps, desk)
    listed, unlisted = _upload(deps, desk, case_id), _upload(deps, desk, case_id, SCAN, "a.jpg")
    assert _case_key_exists(deps, case_id)
    held = {row.id: row.storage_key for row in _rows(deps, CaseDocument, case_id)}
    assert set(held) == {listed, unlisted}
    assert _rows(deps, SubjectDocument, case_id) == []

    summary = _file_request(deps, desk, case_id, [listed])

    assert summary["subject"] == subject
    assert not _case_key_exists(deps, case_id)
    assert _rows(deps, CaseDocument, case_id) == []
    [moved] = _rows(deps, SubjectDocument, case_id)
    assert (moved.id, moved.subject) == (listed, subject)
    # A new file under the subject's key; both files of the case key are gone.
    assert _stored_files(deps) == {moved.storage_key}
    blob = LocalFileStore(deps.settings.document_store_dir).get(moved.storage_key)
    with deps.unit_of_work() as uow:
        data_key = vault.data_key_of(uow, deps.keys, subject)
    assert decrypt_document(data_key, blob, subject=subject, document_id=listed) == PDF
    with pytest.raises(DecryptionError):  # bound to its document id, like any other
        decrypt_document(data_key, blob, subject=subject, document_id=unlisted)
    review = open_task(deps, case_id, "review_deletion")
    cases.claim_task(deps, reviewer, review)
    assert proofs.download_document(deps, reviewer, listed) == ("application/pdf", PDF)
    with pytest.raises(NotFound):
        proofs.download_document(deps, reviewer, unlisted)
    [rekey] = _audit(deps, case_id, "document.rekey")
    assert (rekey.subject, rekey.detail) == (subject, {"documents": [listed], "count": 1})
    [destroyed] = _audit(deps, case_id, "document.destroy")
    assert destroyed.detail == {"documents": [unlisted], "count": 1}


def test_proof_uploaded_after_the_subject_is_known_goes_straight_under_its_key(deps, desk):
    subject = active_subject(deps)
    case_id = _deletion_request(deps, desk)
    _file_request(deps, desk, case_id, [])
    later = _upload(deps, desk, case_id)
    assert [(row.id, row.subject) for row in _rows(deps, SubjectDocument, case_id)] == [
        (later, subject)
    ]
    assert _rows(deps, CaseDocument, case_id) == []
    assert not _case_key_exists(deps, case_id)


def test_a_withdrawn_request_destroys_the_case_key_and_its_documents(deps, desk):
    active_subject(deps)
    case_id = _deletion_request(deps, desk)
    first, second = _upload(deps, desk, case_id), _upload(deps, desk, case_id, SCAN, "b.jpg")
    assert len(_stored_files(deps)) == 2

    withdraw_case(deps, desk, case_id, "the customer changed their mind")

    assert not _case_key_exists(deps, case_id)
    assert _rows(deps, CaseDocument, case_id) == []
    assert _stored_files(deps) == set()
    [destroyed] = _audit(deps, case_id, "document.destroy")
    assert destroyed.detail == {"documents": sorted([first, second]), "count": 2}
    assert destroyed.actor == "frontdesk"
    with pytest.raises(Conflict):
        _upload(deps, desk, case_id)


def test_a_request_withdrawn_before_any_upload_leaves_no_key(deps, desk):
    case_id = _deletion_request(deps, desk)
    withdraw_case(deps, desk, case_id, "filed by mistake")
    assert not _case_key_exists(deps, case_id)
    assert _audit(deps, case_id, "document.destroy") == []


def test_the_reviewer_reads_a_document_still_held_by_the_case_key(
    deps, desk, reviewer, install_procedure
):
    install_procedure("proof_before_subject")
    case_id = cases.start_case(deps, desk, "proof_before_subject")["id"]
    document = _upload(deps, desk, case_id)
    cases.complete_task(
        deps, desk, open_task(deps, case_id, "request"), {"note": "n", "documents": [document]}
    )
    assert proofs.download_document(deps, reviewer, document) == ("application/pdf", PDF)
    [read] = _audit(deps, case_id, "document.read")
    assert read.subject is None and read.detail["document"] == document
    # Only a reviewer with an open review task of the case reads it.
    with pytest.raises(Forbidden):
        proofs.download_document(deps, desk, document)

    withdraw_case(deps, desk, case_id, "no longer needed")
    assert not _case_key_exists(deps, case_id)
    assert _stored_files(deps) == set()


def test_a_case_that_ends_without_a_subject_destroys_its_documents(
    deps, desk, reviewer, install_procedure
):
    install_procedure("proof_before_subject")
    case_id = cases.start_case(deps, desk, "proof_before_subject")["id"]
    document = _upload(deps, desk, case_id)
    cases.complete_task(
        deps, desk, open_task(deps, case_id, "request"), {"note": "n", "documents": [document]}
    )
    cases.complete_task(deps, reviewer, open_task(deps, case_id, "review"), {"note": "refused"})
    assert _rows(deps, CaseDocument, case_id) == []
    assert not _case_key_exists(deps, case_id)
    assert _stored_files(deps) == set()


def test_a_form_that_fails_after_the_move_leaves_the_held_documents_as_they_were(deps, desk):
    active_subject(deps)
    case_id = _deletion_request(deps, desk)
    document = _upload(deps, desk, case_id)
    before = _stored_files(deps)
    with deps.unit_of_work() as uow:
        case = uow.session.get_one(Case, case_id)
        version = uow.session.get_one(ProcedureVersion, case.version_id)
        schema = version.forms["deletion_request"]
        take_personal_data(uow, deps, case, schema, dict(REQUEST, documents=[document]), deps.now())
        assert uow.session.scalar(select(func.count()).select_from(SubjectDocument)) == 1
        assert len(_stored_files(deps)) == 2  # the re-encrypted copy, not yet committed
        # No commit: the use case failed after the documents moved.
    assert _stored_files(deps) == before
    assert [row.id for row in _rows(deps, CaseDocument, case_id)] == [document]
    assert _rows(deps, SubjectDocument, case_id) == []
    assert _case_key_exists(deps, case_id)
    with deps.unit_of_work() as uow:
        [held] = _rows(deps, CaseDocument, case_id)
        store = LocalFileStore(deps.settings.document_store_dir)
        assert case_documents.read_document(uow, deps.keys, store, held) == PDF


def test_a_document_of_one_case_does_not_open_under_another_case_key(deps, desk):
    first, second = _deletion_request(deps, desk), _deletion_request(deps, desk)
    _upload(deps, desk, first)
    _upload(deps, desk, second)
    [held] = _rows(deps, CaseDocument, first)
    [other] = _rows(deps, CaseDocument, second)
    held.storage_key = other.storage_key  # a swapped file reference
    with deps.unit_of_work() as uow, pytest.raises(DecryptionError):
        case_documents.read_document(
            uow, deps.keys, LocalFileStore(deps.settings.document_store_dir), held
        )
