"""A request's case page: the requester withdraws it, a supervisor extends its deadline, and
anyone working on it suggests an improvement to the procedure (section 6)."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from service.access.service import SYSTEM
from service.cases.service import fire_due_timers
from tests.api.conftest import VALID_FORM
from tests.conftest import add_user

REQUEST = {
    "id_type": VALID_FORM["id_type"],
    "id_number": VALID_FORM["id_number"],
    "reason": "withdrawn_consent",
    "reason_detail": "customer closed the account",
}


def _filed(as_user) -> str:
    desk = as_user("frontdesk")
    case = desk.start("deletion")
    filed = desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    assert filed.status == 200, filed.body
    return case["id"]


def test_the_requester_withdraws_and_suggests_an_improvement(open_session, customer, as_user):
    case_id = _filed(as_user)
    session = open_session("zh-CN")
    session.log_in("frontdesk")
    page = session.go(f"/cases/{case_id}")
    expect(page.locator("#withdraw-form")).to_be_visible()
    expect(page.locator("#extend-form")).to_be_hidden()  # not a front-desk action

    page.locator("#feedback-text").fill("删除申请表的证件类型默认值应为居民身份证")
    page.get_by_role("button", name="提交建议").click()
    expect(page.locator("#notice")).to_contain_text("感谢您的建议")
    session.shot("case-requester-zh")

    page.locator("#withdraw-reason").fill("客户改变主意")
    page.get_by_role("button", name="撤回申请").click()
    expect(page.locator("#notice")).to_contain_text("申请已撤回")
    expect(page.locator("#case-actions")).to_be_hidden()
    assert as_user("frontdesk").get(f"/api/v1/cases/{case_id}").body["status"] != "running"

    listed = as_user("owner").get("/api/v1/procedures/deletion/feedback").body
    texts = [item["text"] for item in listed["feedback"]]
    assert texts == ["删除申请表的证件类型默认值应为居民身份证"]


def test_a_supervisor_extends_an_overdue_requests_deadline(
    open_session, deps, clock, customer, as_user
):
    add_user(deps, "supervisor", ["supervisor"])
    case_id = _filed(as_user)
    before = as_user("frontdesk").get(f"/api/v1/cases/{case_id}").body["due_at"]
    clock.advance(days=25)
    assert fire_due_timers(deps, SYSTEM) == 1  # overdue: the supervisor is part of the case now

    session = open_session("en")
    session.log_in("supervisor")
    page = session.go(f"/cases/{case_id}")
    expect(page.locator("#withdraw-form")).to_be_hidden()
    new_due = (clock() + timedelta(days=3)).date().isoformat()  # within the 30-day ceiling
    page.locator("#extend-date").fill(new_due)
    page.locator("#extend-reason").fill("waiting for the court's reply")
    page.get_by_role("button", name="Extend the deadline").click()
    expect(page.locator("#notice")).to_contain_text("The deadline was extended")
    after = as_user("frontdesk").get(f"/api/v1/cases/{case_id}").body["due_at"]
    assert after != before
