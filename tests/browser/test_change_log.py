"""An auditor in the browser reads what a change changed, from its change-log record."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM

NEW_MOBILE = "13900001111"


def test_an_auditor_opens_the_before_and_after_of_a_change(open_session, customer, as_user):
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start("update")
    request = {
        "id_type": VALID_FORM["id_type"],
        "id_number": VALID_FORM["id_number"],
        "new_mobile": NEW_MOBILE,
        "reason": "customer changed phone number",
    }
    assert desk.complete(desk.task_of(case["id"], "file_change_request"), request).status == 200
    done = reviewer.complete(reviewer.task_of(case["id"], "review_change"), {"decision": "approve"})
    assert done.body["outcome"] == "updated", done.body

    session = open_session("zh-CN")
    page = session.log_in("auditor")
    page.get_by_role("link", name="审计记录").click()
    page.locator("#q-action").select_option("subject.update")
    page.get_by_role("button", name="查询").click()
    row = page.locator("#audit-table tbody tr")
    expect(row).to_have_count(1)
    expect(page.locator("#audit-table")).not_to_contain_text(NEW_MOBILE)  # sealed until asked
    row.get_by_role("button", name="查看变更内容").click()
    change = row.locator('.change dd[data-field="mobile"]')
    expect(change).to_contain_text(VALID_FORM["mobile"])
    expect(change).to_contain_text(NEW_MOBILE)
    session.shot("audit-change-zh")
    reads = as_user("auditor").get("/api/v1/audit/records?action=subject.read").body["records"]
    assert any(r["actor"] == "auditor" and "change log" in (r["purpose"] or "") for r in reads)
