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
    page.get_by_role("link", name="我的授权").click()
    row = page.locator("#grants-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("手机号码")
    expect(row).to_contain_text("计费争议处理")
    expect(row).to_contain_text("0 / 5")
    # Which request it came from: the case reference, linked to the case.
    expect(row.get_by_role("link", name=case["id"][:8])).to_have_attribute(
        "href", f"/cases/{case['id']}"
    )
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

    other = open_session("zh-CN").log_in("reviewer")
    expect(other.get_by_role("link", name="我的授权")).to_have_count(0)


def test_the_front_desk_prints_a_customers_own_copy_with_its_processing_record(
    open_session, customer, as_user
):
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start("access")
    request = {k: REQUEST[k] for k in ("id_type", "id_number")} | {"identity_checked": True}
    assert desk.complete(desk.task_of(case["id"], "file_access_request"), request).status == 200
    approved = reviewer.complete(
        reviewer.task_of(case["id"], "review_access"), {"decision": "approve"}
    )
    assert approved.body["outcome"] == "granted", approved.body

    session = open_session("en")
    page = session.log_in("frontdesk")
    page.get_by_role("link", name="My grants").click()
    row = page.locator("#grants-table tbody tr")
    expect(row).to_contain_text("The customer's own access request")
    row.get_by_role("button", name="View in clear").click()
    expect(page.locator('#values dd[data-field="name"]')).to_have_text(VALID_FORM["name"])
    expect(page.locator("#values dt")).to_have_count(5)
    expect(page.locator("#record-consents-table tbody tr")).to_have_count(2)
    expect(page.locator("#record-cases-table")).to_contain_text("Collection")
    expect(page.locator("#record-cases-table")).to_contain_text("Customer's access")
    expect(page.get_by_role("button", name="Print the copy")).to_be_visible()
    session.shot("grants-access-copy-en")
