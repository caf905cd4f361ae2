"""The compliance UI's "verify" button: the live chain checked over HTTP, and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from service.audit.models import AuditRecord


def test_verify_reports_a_sound_chain_and_is_itself_audited(api, deps):
    auditor = api("auditor")
    report = auditor.post("/api/v1/audit/verify")
    assert report.status == 200, report.body
    assert report.body["ok"] is True
    assert report.body["records"] >= 1
    with deps.unit_of_work() as uow:
        last = uow.session.scalars(
            select(AuditRecord.action).order_by(AuditRecord.seq.desc())
        ).first()
    assert last == "audit.verify"


def test_verify_names_a_changed_record(api, deps, backend):
    if backend == "postgres":
        pytest.skip("the append-only trigger refuses the edit; tests/integration/audit covers it")
    auditor = api("auditor")
    with deps.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET action = 'forged' WHERE seq = 1"))
    report = auditor.post("/api/v1/audit/verify")
    assert report.body["ok"] is False
    assert report.body["first_bad_seq"] == 1


def test_staff_cannot_verify(api):
    assert api("frontdesk").post("/api/v1/audit/verify").status == 403
