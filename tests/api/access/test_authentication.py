"""Login throttling, browser sessions with CSRF, scoped and revocable tokens, TOTP."""

from __future__ import annotations

from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import select

from service.access import throttle
from service.audit.models import AuditRecord
from tests.conftest import PASSWORD, REDIS_URL, need_service

LOGIN = "/api/v1/auth/login"


def _login(client, username="reviewer", password=PASSWORD, **extra):
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def _refused_logins(deps) -> list[str]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord.reason).where(
                    AuditRecord.action == "auth.login", AuditRecord.outcome == "refused"
                )
            )
        )


def test_an_account_locks_after_repeated_failures_and_unlocks_later(client, deps, clock):
    for _ in range(throttle.MAX_FAILURES):
        assert _login(client, password="wrong password!").status_code == 401
    locked = _login(client)
    assert locked.status_code == 423
    assert "locked until" in locked.get_json()["error"]["message"]
    assert any("locked until" in r for r in _refused_logins(deps))
    clock.advance(minutes=16)
    assert _login(client).status_code == 200


def test_logins_from_one_address_are_rate_limited(client, deps):
    for i in range(throttle.RATE_PER_MINUTE):
        _login(client, username=f"nobody{i}", password="wrong password!")
    limited = _login(client)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_lockout_and_rate_limit_work_on_redis(app, deps, users):
    need_service("redis")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    deps.settings = replace(deps.settings, redis_url=REDIS_URL)
    client = app.test_client()
    for _ in range(throttle.MAX_FAILURES):
        assert _login(client, password="wrong password!").status_code == 401
    assert _login(client).status_code == 423
    assert _login(client, username="auditor").status_code == 200
    for _ in range(throttle.RATE_PER_MINUTE):
        _login(client, username="auditor")
    assert _login(client, username="auditor").status_code == 429
    redis.Redis.from_url(REDIS_URL).flushdb()


def test_browser_writes_need_the_csrf_token(client, deps):
    opened = client.post(
        "/api/v1/auth/session", json={"username": "frontdesk", "password": PASSWORD}
    )
    assert opened.status_code == 200
    cookie = opened.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    csrf = opened.get_json()["csrf_token"]
    assert client.get("/api/v1/me").status_code == 200  # a read needs no CSRF token
    forged = client.post("/api/v1/cases", json={"procedure": "collection"})
    assert forged.status_code == 403 and "CSRF" in forged.get_json()["error"]["message"]
    wrong = client.post(
        "/api/v1/cases", json={"procedure": "collection"}, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    ok = client.post(
        "/api/v1/cases", json={"procedure": "collection"}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 201
    with deps.unit_of_work() as uow:
        actions = list(uow.session.scalars(select(AuditRecord.action)))
    assert actions.count("access.csrf") == 2


def test_a_scoped_token_can_do_only_what_it_is_scoped_for(api):
    reviewer = api("reviewer")
    made = reviewer.post(
        "/api/v1/tokens", {"name": "read tasks", "scopes": ["task.read"], "days": 1}
    )
    assert made.status == 201
    headers = {"Authorization": f"Bearer {made.body['token']}"}
    client = reviewer.client
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    denied = client.post("/api/v1/tasks/x/claim", headers=headers)
    assert denied.status_code == 403 and "not scoped" in denied.get_json()["error"]["message"]
    wider = reviewer.post("/api/v1/tokens", {"name": "x", "scopes": ["users.admin"], "days": 1})
    assert wider.status == 422


def test_revoked_and_expired_tokens_are_refused(api, clock, deps):
    reviewer = api("reviewer")
    made = reviewer.post("/api/v1/tokens", {"name": "short", "days": 1}).body
    headers = {"Authorization": f"Bearer {made['token']}"}
    client = reviewer.client
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    token_id = reviewer.get("/api/v1/tokens").body["tokens"][-1]["id"]
    assert reviewer.post(f"/api/v1/tokens/{token_id}/revoke").status == 204
    revoked = client.get("/api/v1/me", headers=headers)
    assert revoked.status_code == 401 and revoked.get_json()["error"]["message"] == "token revoked"
    clock.advance(hours=deps.settings.token_ttl_hours + 1)
    assert reviewer.get("/api/v1/me").status == 401


def test_tokens_are_stored_hashed(api, deps):
    token = api("reviewer").headers["Authorization"].split()[1]
    from service.access.models import ApiToken

    with deps.unit_of_work() as uow:
        stored = list(uow.session.scalars(select(ApiToken.token_hash)))
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_totp_once_enabled_is_required_at_login(api, client, deps, clock):
    reviewer = api("reviewer")
    enrolled = reviewer.post("/api/v1/me/totp").body
    totp = pyotp.TOTP(enrolled["secret"])
    wrong_code = "000000" if totp.at(clock()) != "000000" else "111111"
    assert reviewer.post("/api/v1/me/totp/confirm", {"code": wrong_code}).status == 422
    assert reviewer.post("/api/v1/me/totp/confirm", {"code": totp.at(clock())}).status == 204
    session_login = "/api/v1/auth/session"
    body = {"username": "reviewer", "password": PASSWORD}
    missing = client.post(session_login, json=body)
    assert missing.status_code == 401 and "TOTP" in missing.get_json()["error"]["message"]
    wrong = client.post(session_login, json=body | {"totp": "123456"})
    assert wrong.status_code == 401
    clock.advance(seconds=30)  # the confirming code is used up; the next one logs in
    ok = client.post(session_login, json=body | {"totp": totp.at(clock())})
    assert ok.status_code == 200


def test_the_totp_secret_is_stored_encrypted(api, deps):
    secret = api("reviewer").post("/api/v1/me/totp").body["secret"]
    from service.access.models import User

    with deps.unit_of_work() as uow:
        blobs = list(
            uow.session.scalars(
                select(User.totp_secret_enc).where(User.totp_secret_enc.is_not(None))
            )
        )
    assert len(blobs) == 1 and secret.encode() not in blobs[0]
