"""Use-case level: training lapses, reminders, login-attempt purge, version authorship."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.access.service import (
    SYSTEM,
    Actor,
    actor_for_token,
    check_password_policy,
    issue_token,
)
from service.access.throttle import DatabaseThrottle, purge_attempts
from service.access.training import known_lapses, lapses, send_training_reminders
from service.audit.models import AuditRecord
from service.cases.duties import check_not_author
from service.errors import Forbidden, Invalid
from tests.conftest import add_user


def _user(deps, name, roles, days):
    return add_user(deps, name, roles, trained_days=days)


def test_training_lapses_when_its_expiry_passes(deps, clock):
    user_id = _user(deps, "desk", ["front_desk"], 5)
    with deps.unit_of_work() as uow:
        assert lapses(uow.session, user_id, {"front_desk"}, clock()) == []
        later = clock() + timedelta(days=6)
        [lapse] = lapses(uow.session, user_id, {"front_desk"}, later)
    expired_on = (clock() + timedelta(days=5)).date().isoformat()
    assert lapse.reason == f"training personal_data_protection expired on {expired_on}"


def test_reminders_go_to_users_whose_training_expires_soon(deps, clock):
    soon = _user(deps, "soon", ["reviewer"], 10)
    _user(deps, "fine", ["reviewer"], 300)
    assert send_training_reminders(deps, SYSTEM) == [soon]
    with deps.unit_of_work() as uow:
        details = list(
            uow.session.scalars(
                select(AuditRecord.detail).where(AuditRecord.action == "training.reminder")
            )
        )
    expires_at = (clock() + timedelta(days=10)).isoformat()
    assert details == [
        {
            "user_id": soon,
            "course": "personal_data_protection",
            "status": "expiring",
            "expires_at": expires_at,
        }
    ]


def test_a_reminder_is_sent_once_while_expiring_once_when_lapsed_and_anew_after_renewal(
    deps, clock
):
    from service.access.training import record_training

    soon = _user(deps, "soon", ["reviewer"], 10)
    assert send_training_reminders(deps, SYSTEM) == [soon]
    clock.advance(days=1)
    assert send_training_reminders(deps, SYSTEM) == []  # the daily run says nothing new
    clock.advance(days=10)
    assert send_training_reminders(deps, SYSTEM) == [soon]  # now lapsed: said once more
    assert send_training_reminders(deps, SYSTEM) == []
    record_training(deps, SYSTEM, soon, "personal_data_protection", clock(), 40)
    assert send_training_reminders(deps, SYSTEM) == []
    clock.advance(days=15)
    assert send_training_reminders(deps, SYSTEM) == [soon]  # the renewed training nears its end
    with deps.unit_of_work() as uow:
        statuses = [
            detail["status"]
            for detail in uow.session.scalars(
                select(AuditRecord.detail)
                .where(AuditRecord.action == "training.reminder")
                .order_by(AuditRecord.seq)
            )
        ]
    assert statuses == ["expiring", "lapsed", "expiring"]


def test_old_login_attempts_are_purged(deps, clock):
    with deps.unit_of_work() as uow:
        DatabaseThrottle().note(uow.session, "someone", "10.0.0.1", clock(), ok=False)
        uow.commit()
    clock.advance(days=2)
    assert purge_attempts(deps) == 1


def test_compliance_cannot_approve_a_version_they_drafted():
    author = Actor(7, "compliance", frozenset({"compliance"}))
    with pytest.raises(Forbidden, match="you drafted this version"):
        check_not_author(author, 7)
    check_not_author(author, 8)
    check_not_author(author, None)


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short", "at least 10"),
        ("password123", "too common"),
        ("aaaaaaaaaaaa", "5 different"),
        ("my-name-is-alice!", "username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, reason):
    with pytest.raises(Invalid) as refused:
        check_password_policy(password, "alice")
    assert reason in refused.value.details[0]["reason"]


def test_the_credential_read_carries_the_training_the_gate_would_query(deps, clock):
    trained = _user(deps, "trained", ["reviewer"], 5)
    untrained = add_user(deps, "untrained", ["reviewer"], trained_days=-1)
    with deps.unit_of_work() as uow:
        tokens = {
            user: issue_token(uow.session, user, clock(), timedelta(hours=1))[0]
            for user in (trained, untrained)
        }
        uow.commit()
    moments = [clock(), clock() + timedelta(days=6)]
    lapsed = {}
    with deps.unit_of_work() as uow:
        for user, token in tokens.items():
            actor = actor_for_token(uow.session, token, clock())
            assert actor.trained_until is not None
            [(course, expires)] = actor.trained_until
            assert course == "personal_data_protection"
            assert expires is not None and expires.tzinfo is not None
            for moment in moments:
                queried = lapses(uow.session, user, actor.roles, moment)
                assert known_lapses(actor, moment) == queried
            lapsed[user] = [bool(known_lapses(actor, moment)) for moment in moments]
    assert lapsed == {trained: [False, True], untrained: [True, True]}


def test_an_actor_not_read_from_a_credential_leaves_the_gate_to_query(deps):
    assert known_lapses(Actor(1, "someone", frozenset({"reviewer"})), deps.now()) is None
