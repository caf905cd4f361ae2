"""Locking and unlocking accounts through the admin API."""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditRecord
from tests.conftest import PASSWORD

LOGIN = "/api/v1/auth/login"


def _login(client, username="reviewer"):
    return client.post(LOGIN, json={"username": username, "password": PASSWORD})


def test_a_locked_account_cannot_log_in_nor_use_its_tokens_until_unlocked(api, client, users):
    reviewer, admin = api("reviewer"), api("admin")
    locked = admin.post(f"/api/v1/users/{users['reviewer']}/lock", {"reason": "lost laptop"})
    assert locked.status == 204
    assert reviewer.get("/api/v1/me").status == 401
    assert _login(client).status_code == 401
    assert admin.post(f"/api/v1/users/{users['reviewer']}/unlock").status == 204
    assert _login(client).status_code == 200
    assert reviewer.get("/api/v1/me").status == 401  # tokens revoked by the lock stay revoked


def test_locking_needs_a_reason_and_a_known_user(api, users):
    admin = api("admin")
    no_reason = admin.post(f"/api/v1/users/{users['reviewer']}/lock", {})
    assert no_reason.status == 422
    assert no_reason.body["error"]["details"][0]["field"] == "reason"
    assert admin.post("/api/v1/users/999999/lock", {"reason": "gone"}).status == 404


def test_an_administrator_cannot_lock_themselves_out_and_the_refusal_is_audited(api, deps, users):
    refused = api("admin").post(f"/api/v1/users/{users['admin']}/lock", {"reason": "testing"})
    assert refused.status == 403
    with deps.unit_of_work() as uow:
        reasons = list(
            uow.session.scalars(
                select(AuditRecord.reason).where(
                    AuditRecord.action == "user.lock", AuditRecord.outcome == "refused"
                )
            )
        )
    assert reasons == ["you cannot lock your own account"]
