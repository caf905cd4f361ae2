"""`datasteward users`: roles, tokens, training, lock and unlock from the console, each
through the admin use cases and audited as the console operator."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.access.models import ApiToken, TrainingRecord, User, UserRole
from service.access.service import actor_for_token, create_user
from service.audit.models import AuditRecord
from service.cli import main
from service.errors import Unauthenticated
from tests.conftest import PASSWORD

OPERATOR = f"cli:{getpass.getuser()}"[:64]


@pytest.fixture
def cli(deps, monkeypatch, capsys):
    """Run `datasteward ...` against the test's databases; returns (exit status, output)."""
    settings = deps.settings
    monkeypatch.delenv("DATASTEWARD_REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name, value in {
        "VAR_DIR": settings.var_dir,
        "DATABASE_URL": settings.database_url,
        "KEYSTORE_URL": settings.keystore_url,
        "PROCESSES_DIR": settings.processes_dir,
    }.items():
        monkeypatch.setenv(f"DATASTEWARD_{name}", value)

    def run(*argv: str) -> tuple[int, str]:
        status = main(list(argv))
        out = capsys.readouterr()
        return status, out.out + out.err

    return run


@pytest.fixture
def staff(deps) -> int:
    with deps.unit_of_work() as uow:
        user_id = create_user(
            uow.session,
            username="desk",
            password=PASSWORD,
            display_name="desk",
            roles=["front_desk"],
            now=datetime.now(UTC),
        )
        uow.commit()
    return user_id


def _audit(deps, action: str) -> list[AuditRecord]:
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        ).all()
        uow.session.expunge_all()
        return list(rows)


def _roles(deps, user_id) -> set[tuple[str, str | None, str | None]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(select(UserRole).where(UserRole.user_id == user_id))
        return {(r.role, r.department, r.branch) for r in rows}


def test_create_is_audited_as_the_console_operator(cli, deps):
    status, out = cli(
        "users",
        "create",
        "newcomer",
        "--role",
        "reviewer",
        "--branch",
        "north",
        "--password",
        "a long enough passphrase",
    )
    assert status == 0 and "created user newcomer" in out
    [created] = _audit(deps, "user.create")
    assert created.actor == OPERATOR


def test_grant_with_a_branch_scope_keeps_other_roles_and_revoke_takes_one_away(cli, deps, staff):
    status, out = cli("users", "grant", "desk", "reviewer", "--branch", "north")
    assert status == 0 and "reviewer(branch=north)" in out
    assert _roles(deps, staff) == {("front_desk", None, None), ("reviewer", None, "north")}
    assert cli("users", "revoke", "desk", "front_desk")[0] == 0
    assert _roles(deps, staff) == {("reviewer", None, "north")}
    changes = _audit(deps, "user.roles")
    assert [c.actor for c in changes] == [OPERATOR, OPERATOR]
    assert changes[0].detail["roles"][1] == {
        "role": "reviewer",
        "department": None,
        "branch": "north",
    }


def test_bad_role_changes_are_refused_and_change_nothing(cli, deps, staff):
    status, out = cli("users", "grant", "desk", "emperor")
    assert status == 1 and "unknown role" in out
    status, out = cli("users", "revoke", "desk", "reviewer")
    assert status == 1 and "does not hold the role" in out
    status, out = cli("users", "grant", "nobody", "reviewer")
    assert status == 1 and "no user 'nobody'" in out
    assert _roles(deps, staff) == {("front_desk", None, None)}
    assert _audit(deps, "user.roles") == []


def test_an_issued_token_works_until_revoked(cli, deps, staff):
    status, out = cli("users", "token", "issue", "desk", "--days", "7", "--scope", "task.read")
    assert status == 0
    token = out.strip().splitlines()[-1]
    with deps.unit_of_work() as uow:
        actor = actor_for_token(uow.session, token, datetime.now(UTC))
        token_id = uow.session.scalar(select(ApiToken.id).where(ApiToken.user_id == staff))
    assert actor.id == staff and actor.scopes == frozenset({"task.read"})
    assert cli("users", "token", "revoke", str(token_id))[0] == 0
    with deps.unit_of_work() as uow, pytest.raises(Unauthenticated, match="revoked"):
        actor_for_token(uow.session, token, datetime.now(UTC))
    assert [r.detail["user_id"] for r in _audit(deps, "token.create")] == [staff]
    assert [r.actor for r in _audit(deps, "token.revoke")] == [OPERATOR]


def test_a_token_cannot_be_scoped_beyond_the_users_roles(cli, deps, staff):
    status, out = cli("users", "token", "issue", "desk", "--scope", "users.admin")
    assert status == 1 and "do not grant" in out
    assert _audit(deps, "token.create") == []


def test_training_add_records_the_course_and_refuses_an_unknown_one(cli, deps, staff):
    status, out = cli(
        "users",
        "training",
        "add",
        "desk",
        "personal_data_protection",
        "--completed-at",
        "2026-01-05T09:00:00+08:00",
        "--valid-days",
        "365",
    )
    assert status == 0 and "valid until 2027-01-05" in out
    status, out = cli("users", "training", "add", "desk", "knitting")
    assert status == 1 and "unknown course" in out
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(select(TrainingRecord.course, TrainingRecord.recorded_by)).all()
    assert [tuple(r) for r in rows] == [("personal_data_protection", None)]
    assert [r.actor for r in _audit(deps, "training.record")] == [OPERATOR]


def test_lock_revokes_tokens_and_blocks_login_and_unlock_restores_it(cli, app, deps, staff):
    client = app.test_client()
    login = {"username": "desk", "password": PASSWORD}
    token = client.post("/api/v1/auth/login", json=login).get_json()["token"]
    status, _ = cli("users", "lock", "desk", "--reason", "left the company")
    assert status == 0
    assert client.post("/api/v1/auth/login", json=login).status_code == 401
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert cli("users", "unlock", "desk")[0] == 0
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    [locked] = _audit(deps, "user.lock")
    assert (locked.actor, locked.reason) == (OPERATOR, "left the company")
    assert [r.actor for r in _audit(deps, "user.unlock")] == [OPERATOR]


def test_unlock_clears_a_failed_login_lockout(cli, app, deps, staff):
    client = app.test_client()
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "desk", "password": "wrong guess!"})
    login = {"username": "desk", "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=login).status_code == 423
    assert cli("users", "unlock", "desk")[0] == 0
    assert client.post("/api/v1/auth/login", json=login).status_code == 200


def test_list_shows_scopes_and_locked_accounts(cli, deps, staff):
    cli("users", "grant", "desk", "reviewer", "--department", "retail")
    cli("users", "lock", "desk", "--reason", "on leave")
    status, out = cli("users", "list")
    assert status == 0, out
    assert "desk" in out and "reviewer(department=retail)" in out and "[locked]" in out
    with deps.unit_of_work() as uow:
        assert uow.session.scalar(select(User.active).where(User.id == staff)) is False


def test_training_dates_are_timezone_aware_even_when_given_without_one(cli, deps, staff):
    status, _ = cli(
        "users",
        "training",
        "add",
        "desk",
        "personal_data_protection",
        "--completed-at",
        "2026-01-05T09:00:00",
    )
    assert status == 0
    with deps.unit_of_work() as uow:
        expires = uow.session.scalar(select(TrainingRecord.expires_at))
    assert expires.replace(tzinfo=UTC) - datetime(2026, 1, 5, 9, tzinfo=UTC) == timedelta(days=365)
