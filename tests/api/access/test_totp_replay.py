"""A TOTP code is good once: replaying it within its validity window is refused and audited."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from service.access.models import User
from service.access.totp import accept_step
from service.audit.models import AuditRecord
from tests.conftest import PASSWORD

LOGIN = "/api/v1/auth/login"


def _enrol(api, clock) -> pyotp.TOTP:
    reviewer = api("reviewer")
    totp = pyotp.TOTP(reviewer.post("/api/v1/me/totp").body["secret"])
    assert reviewer.post("/api/v1/me/totp/confirm", {"code": totp.at(clock())}).status == 204
    return totp


def _login(client, code: str):
    body = {"username": "reviewer", "password": PASSWORD, "totp": code}
    return client.post(LOGIN, json=body)


def _refusals(deps) -> list[tuple[str, dict | None]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.reason, AuditRecord.detail)
            .where(AuditRecord.action == "auth.login", AuditRecord.outcome == "refused")
            .order_by(AuditRecord.seq)
        )
        return [(r.reason, r.detail) for r in rows]


def test_a_code_used_to_log_in_is_refused_when_presented_again(api, client, deps, clock):
    totp = _enrol(api, clock)
    clock.advance(seconds=30)
    code = totp.at(clock())
    assert _login(client, code).status_code == 200
    clock.advance(seconds=10)  # same time step, the code is still "valid"
    replayed = _login(client, code)
    assert replayed.status_code == 401
    assert "already used" in replayed.get_json()["error"]["message"]
    assert _refusals(deps)[-1][1] == {"totp": "totp_replayed"}


def test_the_code_that_confirmed_enrolment_cannot_log_in(api, client, deps, clock):
    totp = _enrol(api, clock)
    refused = _login(client, totp.at(clock()))
    assert refused.status_code == 401
    assert _refusals(deps)[-1][1] == {"totp": "totp_replayed"}


def test_an_older_code_still_inside_the_drift_window_is_refused_after_a_newer_one(
    api, client, deps, clock
):
    totp = _enrol(api, clock)
    clock.advance(seconds=60)
    previous_step_code = totp.at(clock(), counter_offset=-1)
    assert _login(client, totp.at(clock())).status_code == 200
    refused = _login(client, previous_step_code)
    assert refused.status_code == 401
    assert _refusals(deps)[-1][1] == {"totp": "totp_replayed"}


def test_the_next_code_logs_in_and_the_step_is_stored_not_the_code(api, client, deps, clock):
    totp = _enrol(api, clock)
    for _ in range(2):
        clock.advance(seconds=30)
        assert _login(client, totp.at(clock())).status_code == 200
    with deps.unit_of_work() as uow:
        stored = uow.session.scalar(
            select(User.totp_last_counter).where(User.username == "reviewer")
        )
    assert stored == totp.timecode(clock())


def test_a_wrong_code_is_refused_as_wrong_not_as_replayed(api, client, deps, clock):
    totp = _enrol(api, clock)
    clock.advance(seconds=30)
    wrong = "000000" if totp.at(clock()) != "000000" else "111111"
    assert _login(client, wrong).status_code == 401
    assert _refusals(deps)[-1][1] == {"totp": "wrong"}


def test_a_time_step_is_accepted_once_and_never_moves_back(deps, users):
    reviewer = users["reviewer"]
    with deps.unit_of_work() as uow:
        assert accept_step(uow.session, reviewer, 100)
        assert not accept_step(uow.session, reviewer, 100)
        assert not accept_step(uow.session, reviewer, 99)
        assert accept_step(uow.session, reviewer, 101)
        uow.commit()
