"""Input no field can hold is refused where it comes in: a 4xx naming the field, nothing changed.

JSON nested past any request's shape, lone surrogates (no character: they
cannot be encoded, stored or shown), digits of other scripts, numbers past
a column's range, invisible or direction-changing characters in texts and
usernames, personal numbers written with spaces in feedback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyotp

from service.access.totp import matched_step
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import PASSWORD


def _raw(client, path: str, body: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        path,
        data=body.encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _field(reply: Any) -> str:
    body = reply.get_json() if hasattr(reply, "get_json") else reply.body
    return body["error"]["details"][0]["field"]


def test_json_nested_deeper_than_any_request_is_refused_even_before_login(client):
    deep = "[" * 1000 + "]" * 1000
    reply = _raw(client, "/api/v1/auth/login", deep)
    assert reply.status_code == 422 and _field(reply) == "body"
    nested: Any = "x"
    for _ in range(40):
        nested = {"n": nested}
    login = {"username": "reviewer", "password": PASSWORD, "extra": nested}
    reply = client.post("/api/v1/auth/login", json=login)
    assert reply.status_code == 422
    assert _field(reply).startswith("body.extra.n.n")


def test_a_lone_surrogate_is_refused_naming_the_field(client, api):
    login = json.dumps({"username": "\ud800", "password": "x"})  # sent as the escape \ud800
    reply = _raw(client, "/api/v1/auth/login", login)
    assert reply.status_code == 422 and _field(reply) == "body.username"

    desk = api("frontdesk")
    case = desk.start()
    assert desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT).status == 200
    task_id = desk.task_of(case["id"], "fill_form")
    form = json.dumps({"data": VALID_FORM | {"address": "北京\udc00"}})
    reply = _raw(client, f"/api/v1/tasks/{task_id}/complete", form, desk.headers)
    assert reply.status_code == 422 and _field(reply) == "body.data.address"
    assert desk.task_of(case["id"], "fill_form") == task_id  # still open, nothing stored
    assert desk.complete(task_id, VALID_FORM).status == 200


def test_totp_codes_in_digits_of_other_scripts_are_no_code(client):
    reply = client.post(
        "/api/v1/auth/login",
        json={"username": "reviewer", "password": PASSWORD, "totp": "１２３４５６"},
    )
    assert reply.status_code == 422 and _field(reply) == "totp"
    secret = pyotp.random_base32()
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    code = pyotp.TOTP(secret).at(now)
    assert matched_step(secret, code, now) is not None
    arabic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert matched_step(secret, arabic, now) is None


def test_version_ids_past_the_column_or_of_another_type_are_refused(api):
    owner, compliance = api("owner"), api("compliance")
    drafts = "/api/v1/procedures/collection/versions"
    before = owner.get(drafts).body["versions"]
    for based_on in (2**63, True, 1.5, "abc", -1, "٣"):
        reply = owner.post(drafts, {"summary": "s", "based_on": based_on})
        assert reply.status == 422, (based_on, reply.body)
        assert _field(reply) == "based_on"
    assert owner.get(drafts).body["versions"] == before
    dry_run = "/api/v1/procedures/collection/migration/dry-run"
    reply = owner.post(dry_run, {"target": 2**63})
    assert reply.status == 422 and _field(reply) == "target"
    reply = owner.post(dry_run, 123)
    assert reply.status == 422 and _field(reply) == "body"
    published = before[0]["id"]
    reply = compliance.post(f"/api/v1/versions/{published}/approve", [1])
    assert reply.status == 422 and _field(reply) == "body"
    reply = owner.get(f"/api/v1/versions/{published}/diff?against=99999999999999999999")
    assert reply.status == 422 and _field(reply) == "against"


def test_query_integers_are_plain_digits(api):
    desk = api("frontdesk")
    for limit in ("%205", "%EF%BC%95", "1_0", "-"):
        reply = desk.get(f"/api/v1/tasks?limit={limit}")
        assert reply.status == 422 and _field(reply) == "limit", limit
    assert desk.get("/api/v1/tasks?limit=10").status == 200


def _new_user(username: str, **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "password": "a long enough passphrase",
        "display_name": "New Colleague",
        "roles": ["front_desk"],
    } | extra


def test_usernames_people_can_tell_apart(api):
    admin = api("admin")
    for username, says in (
        ("ｆｒｏｎｔｄｅｓｋ3", "plain form"),
        ("front desk3", "spaces"),
        ("desk\u202e3", "direction"),
        ("desk\u200b3", "invisible"),
    ):
        reply = admin.post("/api/v1/users", _new_user(username))
        assert reply.status == 422, (username, reply.body)
        assert _field(reply) == "username" and says in reply.body["error"]["message"]
    same_but_case = admin.post("/api/v1/users", _new_user("FrontDesk"))
    assert same_but_case.status == 409 and "'frontdesk'" in same_but_case.body["error"]["message"]
    empty_branch = admin.post("/api/v1/users", _new_user("frontdesk3", branch=""))
    assert empty_branch.status == 422 and _field(empty_branch) == "branch"
    assert "leave the field out" in empty_branch.body["error"]["message"]
    usernames = {u["username"] for u in admin.get("/api/v1/users").body["users"]}
    assert not usernames & {"ｆｒｏｎｔｄｅｓｋ3", "FrontDesk", "frontdesk3"}
    assert admin.post("/api/v1/users", _new_user("frontdesk3")).status == 201


def test_texts_need_something_visible_and_no_control_characters(api, collected):
    desk = api("frontdesk")
    withdraw = f"/api/v1/cases/{collected['id']}/withdraw"
    for reason in ("\u200b\u200b", "   ", "a\x07b", "right-to-left \u202e override"):
        reply = desk.post(withdraw, {"reason": reason})
        assert reply.status == 422 and _field(reply) == "reason", reason
    assert desk.get(f"/api/v1/cases/{collected['id']}").body["status"] == "running"
    multi_line = desk.post(withdraw, {"reason": "customer changed their mind\n\tcalled back"})
    assert multi_line.status == 200, multi_line.body


def test_a_customer_name_of_invisible_characters_is_blank(api):
    desk = api("frontdesk")
    case = desk.start()
    assert desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT).status == 200
    reply = desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM | {"name": "\u200b"})
    assert reply.status == 422
    assert any(d["field"] == "name" for d in reply.body["error"]["details"]), reply.body


def test_feedback_refuses_personal_numbers_however_they_are_written(api):
    desk = api("frontdesk")
    path = "/api/v1/procedures/collection/feedback"
    for text in (
        "customer asked to be called on 138 1234 5678",
        "customer asked to be called on １３８１２３４５６７８",
        "their ID 110105-19491231-002X was read twice",
    ):
        reply = desk.post(path, {"text": text})
        assert reply.status == 422 and _field(reply) == "text", text
    assert api("owner").get(path).body["feedback"] == []
    fine = desk.post(path, {"text": "the review step on 2026-03-02 took 3 days", "step": "review"})
    assert fine.status == 201, fine.body
    blank_step = desk.post(path, {"text": "slow", "step": "  "})
    assert blank_step.status == 422 and _field(blank_step) == "step"


def test_training_of_a_user_that_does_not_exist_is_not_found(api, users):
    admin = api("admin")
    assert admin.get(f"/api/v1/users/{users['frontdesk']}/training").status == 200
    assert admin.get(f"/api/v1/users/{max(users.values()) + 100}/training").status == 404


def test_a_hold_names_its_subject_one_way_not_two(api, collected):
    reply = api("officer").post(
        "/api/v1/holds",
        {
            "subject": collected["subject"],
            "id_type": "resident_id",
            "id_number": VALID_FORM["id_number"],
            "kind": "legal_hold",
            "reason": "court order 2026-17",
        },
    )
    assert reply.status == 422 and "not both" in reply.body["error"]["message"]
