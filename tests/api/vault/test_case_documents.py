"""Proof filed with a request through the HTTP API, before the case knows its subject.

The upload is accepted (no longer a 409), the document reaches the reviewer
once the request form names the customer, and the canary scan finds none of
the documents' contents or file names in any byte written: not the one moved
under the subject's key, not the one left out of the form, not the one of a
withdrawn request.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
from pathlib import Path

from sqlalchemy import select

from service.cases.models import Case
from tests.api.conftest import VALID_FORM
from tests.api.vault.test_canary import _pdf
from tests.api.vault.test_vault_api import _upload

REQUEST = {"id_type": "resident_id", "id_number": VALID_FORM["id_number"], "reason": "other"}


def _entered(api, collected) -> str:
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(collected["id"], "review"), {"decision": "approve"})
    assert done.body["outcome"] == "entered", done.body
    return str(done.body["subject"])


def _attach(user, case_id: str, data: bytes, filename: str) -> str:
    reply = _upload(user.client, user.headers, case_id, data, filename)
    assert reply.status_code == 201, reply.get_json()
    return str(reply.get_json()["id"])


def _file(desk, case_id: str, documents: list[str]):
    task = desk.task_of(case_id, "file_deletion_request")
    form = dict(REQUEST, reason_detail="moving abroad", documents=documents)
    return desk.complete(task, form)


def _written(deps) -> dict[str, bytes]:
    """Every byte the service wrote: its files, both databases and the workflow state."""
    found = {str(p): p.read_bytes() for p in Path(deps.settings.var_dir).rglob("*") if p.is_file()}
    if deps.db.is_postgres:
        for url in (deps.settings.database_url, deps.settings.keystore_url):
            dump = subprocess.run(
                ["pg_dump", "--dbname", url.replace("+psycopg", "")],
                capture_output=True,
                check=True,
            )
            found[f"pg_dump {url.rsplit('/', 1)[1]}"] = dump.stdout
    with deps.unit_of_work() as uow:
        found["workflow state"] = "\n".join(uow.session.scalars(select(Case.state))).encode()
    return found


def test_proof_is_uploaded_before_the_subject_and_reaches_the_reviewer(api, collected):
    subject = _entered(api, collected)
    desk, reviewer = api("frontdesk2"), api("reviewer2")
    case = desk.start("deletion")
    assert case["subject"] is None
    document = _attach(desk, case["id"], _pdf("proof"), "proof.pdf")
    # Before the form is sent nobody reviews the case, so nobody reads the document.
    assert (
        reviewer.client.get(f"/api/v1/documents/{document}", headers=reviewer.headers).status_code
        == 403
    )
    filed = _file(desk, case["id"], [document])
    assert filed.status == 200, filed.body
    assert filed.body["subject"] == subject
    got = reviewer.client.get(f"/api/v1/documents/{document}", headers=reviewer.headers)
    assert got.status_code == 200 and got.data == _pdf("proof")


def test_a_document_not_uploaded_to_the_case_is_named_in_the_form_error(api, collected):
    _entered(api, collected)
    desk = api("frontdesk2")
    other, case = desk.start("deletion"), desk.start("deletion")
    elsewhere = _attach(desk, other["id"], _pdf("elsewhere"), "proof.pdf")
    reply = _file(desk, case["id"], [elsewhere])
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "documents"


def test_an_ended_request_takes_no_more_documents(api):
    desk = api("frontdesk")
    case = desk.start("deletion")
    assert desk.post(f"/api/v1/cases/{case['id']}/withdraw", {"reason": "by mistake"}).status == 200
    reply = _upload(desk.client, desk.headers, case["id"], _pdf("late"), "proof.pdf")
    assert reply.status_code == 409


def test_no_content_of_a_case_held_document_is_written_anywhere_in_plaintext(
    api, collected, deps, caplog
):
    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(6).upper()
    canaries = {k: f"Canary{k.capitalize()}{tag}" for k in ("listed", "unlisted", "withdrawn")}
    _entered(api, collected)
    desk, reviewer = api("frontdesk2"), api("reviewer2")
    case, dropped = desk.start("deletion"), desk.start("deletion")
    listed = _attach(desk, case["id"], _pdf(canaries["listed"]), f"{canaries['listed']}.pdf")
    _attach(desk, case["id"], _pdf(canaries["unlisted"]), f"{canaries['unlisted']}.pdf")
    _attach(desk, dropped["id"], _pdf(canaries["withdrawn"]), f"{canaries['withdrawn']}.pdf")
    assert _file(desk, case["id"], [listed]).status == 200
    assert desk.post(f"/api/v1/cases/{dropped['id']}/withdraw", {"reason": "no"}).status == 200
    # The listed document is still there to read: the scan below is not vacuous.
    got = reviewer.client.get(f"/api/v1/documents/{listed}", headers=reviewer.headers)
    assert canaries["listed"].encode() in got.data

    written = _written(deps)
    written["log output"] = (
        caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    ).encode()
    assert any("/documents/" in where for where in written)
    hits = [
        (where, what)
        for where, data in written.items()
        for what, canary in canaries.items()
        if canary.encode() in data
    ]
    assert hits == []
    # The control: the same scan finds a value written in plaintext.
    (Path(deps.settings.var_dir) / "planted-control.txt").write_bytes(canaries["listed"].encode())
    assert any(canaries["listed"].encode() in data for data in _written(deps).values())
