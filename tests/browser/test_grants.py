"""Department staff in the browser: the grant an approved query issued, and its data in clear."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM

REQUEST = {
    "lookup_by": "id_number",
    "id_type": VALID_FORM["id_type"],
    "id_number": VALID_FORM["id_number"],
    "fields": ["name", "mobile"],
    "purpose": "billing_dispute",
    "purpose_detail": "customer disputes the October invoice",
    "legal_basis": "contract",
}


def test_department_staff_read_a_granted_customer_once_per_view(open_session, customer, as_user):
    dept, reviewer = as_user("dept"), as_user("reviewer")
    case = dept.start("query")
    assert dept.complete(dept.task_of(case["id"], "file_query_request"), REQUEST).status == 200
    approved = reviewer.complete(
        reviewer.task_of(case["id"], "review_query"),
        {"decision": "approve", "approved_fields": ["mobile"]},
    )
    assert approved.body["outcome"] == "granted", approved.body

    session = open_session("zh-CN")
    page = session.log_in("dept")
    page.get_by_role("link", name="查询授权").click()
    row = page.locator("#grants-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("手机号码")
    expect(row).to_contain_text("计费争议处理")
    expect(row).to_contain_text("0 / 5")
    expect(page.locator("#grant-values")).to_be_hidden()

    row.get_by_role("button", name="查看明文").click()
    expect(page.locator('#values dd[data-field="mobile"]')).to_contain_text(VALID_FORM["mobile"])
    expect(page.locator("#values dt")).to_have_count(1)  # only the approved field
    expect(page.locator("#grants-table tbody tr")).to_contain_text("1 / 5")
    session.shot("grants-zh")
    page.get_by_role("button", name="隐藏").click()
    expect(page.locator("#grant-values")).to_be_hidden()
    expect(page.locator("#values dd")).to_have_count(0)

    (grant,) = dept.get("/api/v1/grants").body["grants"]
    assert grant["views"] == 1

    desk = open_session("zh-CN")
    desk_page = desk.log_in("frontdesk")
    expect(desk_page.get_by_role("link", name="查询授权")).to_have_count(0)
