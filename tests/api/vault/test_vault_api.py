"""The vault through the HTTP API: validation, proof documents, subject lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.vault.models import DataKey, Subject, SubjectDocument, SubjectField
from tests.api.conftest import CONSENT, VALID_FORM
from tests.integration.vault.helpers import resident_id

PDF = b"%PDF-1.7\n%proof\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _count(deps, model) -> int:
    with deps.unit_of_work() as uow:
        session = uow.keystore if model is DataKey else uow.session
        return session.scalar(select(func.count()).select_from(model))


def _fill(api, form):
    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    return desk.complete(desk.task_of(case["id"], "fill_form"), form)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"id_number": "110105194912310021"}, "id_number", "check character"),
        ({"id_number": resident_id("11010519490230002")}, "id_number", "not a real date"),
        ({"id_number": resident_id("11010521490101002")}, "id_number", "in the future"),
        ({"id_number": "11010519491231002"}, "id_number", "18 characters"),
        ({"mobile": "14012345678"}, "mobile", "not a valid phone number"),
        ({"mobile": "1381234567"}, "mobile", "must match the pattern"),
        ({"mobile": "138-ABCD-5678"}, "mobile", "must match the pattern"),
        ({"name": "  "}, "name", "blank"),
        ({"name": "张" * 65}, "name", "at most 64"),
        ({"id_type": "passport", "id_number": "E12_345"}, "id_number", "passport number"),
    ],
)
def test_bad_personal_data_is_a_422_naming_the_field_and_nothing_is_stored(
    api, deps, changes, field, words
):
    reply = _fill(api, dict(VALID_FORM, **changes))
    assert reply.status == 422, reply.body
    details = reply.body["error"]["details"]
    assert [d["field"] for d in details] == [field]
    assert words in details[0]["reason"]
    bad_value = changes[field]
    assert not bad_value.strip() or bad_value not in str(reply.body)  # never echoed
    assert (_count(deps, Subject), _count(deps, SubjectField), _count(deps, DataKey)) == (0, 0, 0)


def test_names_outside_the_basic_plane_are_kept_whole(api, deps):
    reply = _fill(api, dict(VALID_FORM, name="𠮷野家"))
    assert reply.status == 200, reply.body
    reviewer = api("reviewer")
    shown = reviewer.get(f"/api/v1/tasks/{reviewer.task_of(reply.body['id'], 'review')}")
    assert shown.body["subject_fields"]["name"] == "𠮷野家"


def _upload(client, token_headers, case_id, data: bytes, filename: str):
    # The body is built here: the test client's own encoder leaves a temporary file open
    # for large bodies, which pytest (warnings as errors) reports.
    boundary = "datasteward-test-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        f"/api/v1/cases/{case_id}/documents",
        data=body,
        headers=token_headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_a_pdf_renamed_to_png_is_stored_as_a_pdf_and_only_the_reviewer_reads_it(
    api, collected, deps
):
    desk = api("frontdesk")
    reply = _upload(desk.client, desk.headers, collected["id"], PDF, "scan.png")
    assert reply.status_code == 201, reply.get_json()
    document = reply.get_json()
    assert document["media_type"] == "application/pdf"
    assert document["warnings"] == ["file name has '.png' but the content is application/pdf"]
    for outsider in ("frontdesk", "dept", "auditor"):
        denied = api(outsider).get(f"/api/v1/documents/{document['id']}")
        assert denied.status == 403, (outsider, denied.body)
    reviewer = api("reviewer")
    got = reviewer.client.get(f"/api/v1/documents/{document['id']}", headers=reviewer.headers)
    assert got.status_code == 200
    assert got.data == PDF and got.mimetype == "application/pdf"
    stored = [
        p.read_bytes() for p in Path(deps.settings.document_store_dir).rglob("*") if p.is_file()
    ]
    assert len(stored) == 1 and b"%PDF" not in stored[0] and b"proof" not in stored[0]


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"just some text, not a document", "proof.pdf", "not a PDF, JPEG or PNG"),
        (b"", "empty.pdf", "empty"),
        (PNG + b"\x00" * (3 * 1024 * 1024), "big.png", "the limit is"),
    ],
)
def test_a_mistyped_empty_or_oversized_document_is_a_422_and_nothing_is_stored(
    api, collected, deps, data, filename, words
):
    desk = api("frontdesk")
    reply = _upload(desk.client, desk.headers, collected["id"], data, filename)
    assert reply.status_code == 422, reply.get_json()
    detail = reply.get_json()["error"]["details"][0]
    assert detail["field"] == "file" and words in detail["reason"]
    assert _count(deps, SubjectDocument) == 0
    assert not [p for p in Path(deps.settings.document_store_dir).rglob("*") if p.is_file()]


def test_upload_without_a_file_names_the_field(api, collected):
    desk = api("frontdesk")
    reply = desk.client.post(
        f"/api/v1/cases/{collected['id']}/documents",
        headers=desk.headers,
        data={},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 422
    assert reply.get_json()["error"]["details"][0]["field"] == "file"


def test_someone_without_a_role_in_the_case_cannot_attach_documents(api, collected):
    dept = api("dept")
    reply = _upload(dept.client, dept.headers, collected["id"], PDF, "proof.pdf")
    assert reply.status_code == 403


def test_lookup_finds_an_entered_subject_by_mobile_or_id_number_without_decrypting(api, collected):
    reviewer = api("reviewer")
    reviewer.complete(reviewer.task_of(collected["id"], "review"), {"decision": "approve"})
    desk = api("frontdesk2")
    by_mobile = desk.post("/api/v1/subjects/lookup", {"mobile": "+86 138 1234 5678"})
    assert by_mobile.status == 200 and by_mobile.body["found"] is True
    assert by_mobile.body["subject"] == collected["subject"]
    by_id = desk.post(
        "/api/v1/subjects/lookup",
        {"id_type": "resident_id", "id_number": VALID_FORM["id_number"].lower()},
    )
    assert by_id.body["subject"] == collected["subject"]
    missing = desk.post("/api/v1/subjects/lookup", {"mobile": "13912345678"})
    assert missing.body == {"found": False, "subject": None, "status": None}


def test_lookup_is_refused_to_roles_that_do_not_need_it_and_validates_input(api):
    assert api("dept").post("/api/v1/subjects/lookup", {"mobile": "13812345678"}).status == 403
    bad = api("frontdesk").post("/api/v1/subjects/lookup", {"mobile": "12"})
    assert bad.status == 422 and bad.body["error"]["details"][0]["field"] == "mobile"
    empty = api("frontdesk").post("/api/v1/subjects/lookup", {})
    assert empty.status == 422
