"""Every endpoint of the route table × every role (and anonymous, expired, revoked,
wrong branch) against the permission matrix. A new endpoint without a rule fails here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.access.permissions import AUTHENTICATED, PAGE, PUBLIC, allows, rule_for
from service.access.service import RoleScope, create_user, issue_token, revoke_token, set_roles
from service.audit.models import AuditRecord
from tests.conftest import PASSWORD

GATE_ACTIONS = ("access.denied", "access.training_gate", "access.unauthenticated")
IDENTITIES = {
    "frontdesk": {"front_desk"},
    "reviewer": {"reviewer"},
    "dept": {"department_staff"},
    "officer": {"data_officer"},
    "owner": {"process_owner"},
    "compliance": {"compliance"},
    "auditor": {"auditor"},
    "admin": {"admin"},
    "supervisor": {"supervisor"},
    "branch_reviewer": {"reviewer"},  # a reviewer scoped to another branch
}


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _path(rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        values[name] = 999999 if "Integer" in converter else "x"
    return rule.build(values, append_unknown=False)[1]


@pytest.fixture
def tokens(deps, users):
    """A fresh token per identity and state, issued straight from the store."""
    with deps.unit_of_work() as uow:
        extra = create_user(
            uow.session,
            username="supervisor",
            password=PASSWORD,
            display_name="s",
            roles=["supervisor"],
            now=deps.now(),
            trained_until=deps.now() + timedelta(days=30),
        )
        branch = create_user(
            uow.session,
            username="branch_reviewer",
            password=PASSWORD,
            display_name="b",
            roles=["reviewer"],
            now=deps.now(),
            branch="north",
            trained_until=deps.now() + timedelta(days=30),
        )
        set_roles(uow.session, branch, [RoleScope("reviewer", branch="south")])
        ids = dict(users, supervisor=extra, branch_reviewer=branch)
        issued = {}
        issued["expired"], _ = issue_token(uow.session, ids["admin"], deps.now(), timedelta(0))
        issued["revoked"], _ = issue_token(uow.session, ids["admin"], deps.now(), timedelta(1))
        revoke_token(uow.session, issued["revoked"], deps.now())
        uow.commit()

    def fresh(name: str) -> str:
        if name in issued:
            return issued[name]
        # a new token per request: some endpoints (log out) revoke the one they get
        with deps.unit_of_work() as uow:
            token, _ = issue_token(uow.session, ids[name], deps.now(), timedelta(hours=1))
            uow.commit()
        return token

    return fresh


def _gate_refusals(deps) -> int:
    with deps.unit_of_work() as uow:
        return (
            uow.session.scalar(select(func.count()).where(AuditRecord.action.in_(GATE_ACTIONS)))
            or 0
        )


def _send(client, method, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(path, method=method, headers=headers, json={})


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_endpoint_has_an_access_rule(app):
    missing = sorted({r.endpoint for r, _ in _routes(app) if rule_for(r.endpoint) is None})
    assert missing == [], f"add rules to service/access/permissions.py for {missing}"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_endpoint_allows_and_denies_each_role_as_the_matrix_says(app, deps, tokens):
    client = app.test_client()
    wrong = []
    for rule, method in _routes(app):
        permission = rule_for(rule.endpoint)
        path = _path(rule)
        for name, roles in IDENTITIES.items():
            before = _gate_refusals(deps)
            reply = _send(client, method, path, tokens(name))
            refused_by_gate = _gate_refusals(deps) > before
            expected = allows(roles, permission)
            if expected == refused_by_gate or (not expected and reply.status_code != 403):
                wrong.append((method, rule.rule, name, permission, reply.status_code))
    assert wrong == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("credential", ["anonymous", "expired", "revoked"])
def test_without_a_valid_token_only_public_endpoints_answer(app, deps, tokens, credential):
    client = app.test_client()
    wrong = []
    for rule, method in _routes(app):
        permission = rule_for(rule.endpoint)
        if permission == PUBLIC:
            continue
        before = _gate_refusals(deps)
        token = None if credential == "anonymous" else tokens(credential)
        reply = _send(client, method, _path(rule), token)
        # pages send the browser to the login page; the API answers 401
        expected_status = 302 if permission == PAGE else 401
        if reply.status_code != expected_status:
            wrong.append((method, rule.rule, reply.status_code))
        audited = expected_status == 401 or credential != "anonymous"
        if audited and _gate_refusals(deps) != before + 1:
            wrong.append((method, rule.rule, "no audit record"))
    assert wrong == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_endpoint_without_a_rule_is_refused_and_the_refusal_audited(app, deps, tokens):
    @app.get("/api/v1/unruled")
    def unruled():
        return {"leaked": True}

    reply = app.test_client().get(
        "/api/v1/unruled", headers={"Authorization": f"Bearer {tokens('admin')}"}
    )
    assert reply.status_code == 403
    assert "no access rule" in reply.get_json()["error"]["message"]
    with deps.unit_of_work() as uow:
        reasons = list(
            uow.session.scalars(
                select(AuditRecord.reason).where(AuditRecord.action == "access.denied")
            )
        )
    assert any("unruled" in (r or "") for r in reasons)


def test_authenticated_rules_do_not_need_a_permission():
    assert allows(set(), AUTHENTICATED)
    assert not allows(set(), "users.admin")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_task_endpoint_refuses_a_reviewer_of_another_branch(app, deps, tokens, api):
    """Wrong branch, per route: every endpoint that acts on a task (any with a task_id and a
    write method) refuses a reviewer scoped to another branch and changes nothing; claim and
    complete say why and are audited. The task list does not show the task at all."""
    from tests.api.conftest import CONSENT, VALID_FORM

    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    task_id = desk.task_of(case["id"], "review")
    client, token = app.test_client(), tokens("branch_reviewer")
    wrong = []
    routes = [(r, m) for r, m in _routes(app) if "task_id" in r.arguments and m != "GET"]
    assert routes, "the route table has no task endpoints"
    for rule, method in routes:
        path = rule.build({"task_id": task_id}, append_unknown=False)[1]
        body = {"data": {"decision": "approve", "comment": "looks right"}}
        reply = client.open(
            path, method=method, headers={"Authorization": f"Bearer {token}"}, json=body
        )
        if reply.status_code not in (403, 409):
            wrong.append((method, rule.rule, reply.status_code))
        elif (
            reply.status_code == 403
            and "another branch" not in reply.get_json()["error"]["message"]
        ):
            wrong.append((method, rule.rule, reply.get_json()["error"]["message"]))
    listed = _send(client, "GET", "/api/v1/tasks?scope=all", token).get_json()["tasks"]
    assert wrong == [] and task_id not in {t["id"] for t in listed}
    with deps.unit_of_work() as uow:
        audited = set(
            uow.session.scalars(
                select(AuditRecord.action).where(
                    AuditRecord.task_id == task_id, AuditRecord.outcome == "refused"
                )
            )
        )
    assert {"task.claim", "task.complete"} <= audited
    assert desk.get(f"/api/v1/cases/{case['id']}").body["tasks"][0]["status"] == "open"
