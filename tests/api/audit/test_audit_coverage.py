"""Every endpoint that changes state or reveals personal data leaves its audit record.

EXPECTED maps each endpoint of the Flask url_map to the audit action it
writes, or to NOT_AUDITED with the reason it needs none. A new endpoint
missing from the table fails the first test: whoever adds an endpoint says
here what it records. The endpoints of the core flow are then driven for real
and their records looked up.
"""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditRecord
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import ROOT


class NotAudited(str):
    """An endpoint that neither changes state nor reveals personal data; the text says why."""


def NOT_AUDITED(reason: str) -> NotAudited:  # noqa: N802 - reads as a table value
    return NotAudited(reason)


EXPECTED: dict[str, str] = {
    # core: login, cases, tasks
    "api.login": "auth.login",
    "api.logout": "auth.logout",
    "api.me": NOT_AUDITED("the caller's own username and roles"),
    "api.procedures": NOT_AUDITED("names of published procedures"),
    "api.start_case": "case.start",
    "api.show_case": NOT_AUDITED("status, tasks and audit history: pseudonyms, no values"),
    "api.find_cases": NOT_AUDITED("case summaries: pseudonyms, no values"),
    "api.list_tasks": NOT_AUDITED("task names and pseudonyms, no values"),
    "api.show_task": "subject.read",
    "api.claim": "task.claim",
    "api.unclaim": "task.unclaim",
    "api.complete": "task.complete",
    "api.openapi": NOT_AUDITED("the API description"),
    # audit
    "audit.search": "audit.search",
    "audit.export": "audit.export",
    "audit.list_checkpoints": NOT_AUDITED("signed tree heads: hashes only"),
    "audit.verify": "audit.verify",
    "audit.inclusion_proof": NOT_AUDITED("one audit record and hashes; no personal data values"),
    "audit.consistency_proof": NOT_AUDITED("hashes only"),
    "audit.change_detail": "subject.read",
    # access
    "access.open_session": "auth.login",
    "oidc.start": NOT_AUDITED("a redirect to the identity provider; the callback is audited"),
    "oidc.callback": "auth.login",
    "access.list_users": NOT_AUDITED("staff directory for admins, no customer data"),
    "access.create_user": "user.create",
    "access.set_user_roles": "user.roles",
    "access.lock_user": "user.lock",
    "access.unlock_user": "user.unlock",
    "access.record_training": "training.record",
    "access.training_of": NOT_AUDITED("training dates of one staff member"),
    "access.my_training": NOT_AUDITED("the caller's own training dates"),
    "access.training_report": "training.report",
    "access.create_token": "token.create",
    "access.list_tokens": NOT_AUDITED("the caller's token names and dates, never the tokens"),
    "access.revoke_token": "token.revoke",
    "access.open_break_glass": "break_glass.open",
    "access.close_break_glass": "break_glass.close",
    "access.break_glass_report": "break_glass.report",
    "access.enroll_totp": "auth.totp_enroll",
    "access.confirm_totp": "auth.totp_enable",
    # vault
    "vault.upload_document": "document.upload",
    "vault.download_document": "document.read",
    "vault.lookup_subject": "subject.lookup",
    # legal holds
    "holds.list_holds": NOT_AUDITED("pseudonyms, kinds and reasons of holds; no personal data"),
    "holds.place_hold": "subject.hold",
    "holds.release_hold": "subject.hold_released",
    "holds.show_certificate": NOT_AUDITED(
        "a signed statement of a deletion: pseudonym, ids and field names, no values"
    ),
    # requests: case lifecycle and query grants
    "requests.withdraw": "case.withdraw",
    "requests.extend": "case.extend",
    "requests.list_grants": NOT_AUDITED("the caller's grants: purpose, fields, expiry; no values"),
    "requests.show_grant": NOT_AUDITED("one grant's terms; no values"),
    "requests.read_grant": "subject.read",
    "requests.grant_record": "subject.access_record",
    # definitions
    "definitions.list_versions": NOT_AUDITED("version metadata"),
    "definitions.create_draft": "version.create",
    "definitions.show_version": NOT_AUDITED("a diagram and forms: no personal data"),
    "definitions.save_draft": "version.save",
    "definitions.submit": "version.submit",
    "definitions.approve": "version.approve",
    "definitions.reject": "version.reject",
    "definitions.publish": "version.publish",
    "definitions.retire": "version.retire",
    "definitions.diff": NOT_AUDITED("the difference of two diagrams"),
    "definitions.version_bpmn": NOT_AUDITED("a diagram's XML"),
    "definitions.migration_dry_run": NOT_AUDITED("a report; changes nothing"),
    "definitions.migrate": "case.migrate",
    "definitions.leave_feedback": "procedure.feedback",
    "definitions.list_feedback": NOT_AUDITED("staff feedback on a procedure"),
    "definitions.start_review": "case.start",
    "definitions.list_reviews": NOT_AUDITED("periodic review cases: status only"),
}
OUTSIDE_THE_API = {"static", "healthz"}


def _endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()} - OUTSIDE_THE_API


def _api_endpoints(app) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint not in OUTSIDE_THE_API
    }


def test_every_api_endpoint_says_which_audit_record_it_leaves(app) -> None:
    missing = sorted(_api_endpoints(app) - EXPECTED.keys())
    assert missing == [], f"add these endpoints to EXPECTED with their audit action: {missing}"


def test_the_expectation_table_names_no_endpoint_that_is_gone(app) -> None:
    assert sorted(EXPECTED.keys() - _endpoints(app)) == []


def test_every_expected_action_is_written_by_some_use_case() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "service").rglob("*.py"))
    actions = {a for a in EXPECTED.values() if not isinstance(a, NotAudited)}
    unwritten = sorted(a for a in actions if f'"{a}"' not in source)
    assert unwritten == []


def _actions(deps) -> list[tuple[str, str, str | None]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.action, AuditRecord.outcome, AuditRecord.actor).order_by(
                AuditRecord.seq
            )
        ).all()
    return [tuple(row) for row in rows]


def test_the_core_endpoints_each_leave_their_record(api, client, deps) -> None:
    wrong = client.post(
        "/api/v1/auth/login", json={"username": "frontdesk", "password": "wrong-pass"}
    )
    assert wrong.status_code == 401
    desk = api("frontdesk")
    case = desk.start()
    consent = desk.task_of(case["id"], "record_consent")
    assert desk.post(f"/api/v1/tasks/{consent}/claim").status == 200
    assert desk.post(f"/api/v1/tasks/{consent}/unclaim").status == 200
    desk.complete(consent, CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    reviewer = api("reviewer")
    assert reviewer.get(f"/api/v1/tasks/{reviewer.task_of(case['id'], 'review')}").status == 200
    api("auditor").get("/api/v1/audit/records")
    assert desk.post("/api/v1/auth/logout").status == 204
    actions = _actions(deps)
    for expected in [
        ("auth.login", "refused", "frontdesk"),
        ("auth.login", "done", "frontdesk"),
        ("case.start", "done", "frontdesk"),
        ("task.claim", "done", "frontdesk"),
        ("task.unclaim", "done", "frontdesk"),
        ("task.complete", "done", "frontdesk"),
        ("subject.read", "done", "reviewer"),
        ("audit.search", "done", "auditor"),
        ("auth.logout", "done", "frontdesk"),
    ]:
        assert expected in actions


def test_the_four_eyes_refusal_leaves_a_refused_record(api, deps) -> None:
    both = api("allrounder")
    case = both.start()
    both.complete(both.task_of(case["id"], "record_consent"), CONSENT)
    both.complete(both.task_of(case["id"], "fill_form"), VALID_FORM)
    assert both.complete(both.task_of(case["id"], "review"), {"decision": "approve"}).status == 403
    assert _actions(deps)[-1] == ("task.complete", "refused", "allrounder")


def test_no_audit_record_holds_a_personal_data_value(api, deps) -> None:
    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    reviewer = api("reviewer")
    reviewer.get(f"/api/v1/tasks/{reviewer.task_of(case['id'], 'review')}")
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(select(AuditRecord)).all()
        dump = repr([(r.reason, r.fields, r.detail, r.purpose, r.subject) for r in rows])
    assert len(rows) > 5
    for value in VALID_FORM.values():
        assert value not in dump
