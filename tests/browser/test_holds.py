"""Legal holds in the browser: compliance places and releases one, an auditor only looks."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM


def test_compliance_places_and_releases_a_hold_with_errors_next_to_the_fields(
    open_session, customer, as_user
):
    officer = open_session("zh-CN")
    page = officer.log_in("compliance")
    page.get_by_role("link", name="法律保全").click()
    expect(page.locator("h1")).to_have_text("法律保全与保存期限")
    expect(page.locator("#holds-empty")).to_be_visible()

    page.locator("#hold-subject").fill(customer)
    page.locator("#place-button").click()
    expect(page.locator("#hold-reason-error")).to_have_text("此项必填")
    expect(page.locator("#hold-reason")).to_have_attribute("aria-invalid", "true")

    page.locator("#hold-kind").select_option("retention")
    page.locator("#hold-reason").fill("账单争议")
    page.locator("#place-button").click()
    expect(page.locator("#hold-until-error")).to_have_text("保存期限需要填写截止日期")
    expect(page.locator("#hold-reason-error")).to_have_text("")
    assert as_user("auditor").get("/api/v1/holds").body["holds"] == []

    page.locator("#hold-kind").select_option("legal_hold")
    page.locator("#hold-reason").fill("法院协助执行通知书 (2030) 17 号")
    page.locator("#place-button").click()
    row = page.locator("#holds-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(customer)
    expect(row).to_contain_text("法律保全")
    expect(row).to_contain_text("直到释放")
    expect(row).to_contain_text("生效中")
    officer.shot("holds-zh")

    row.get_by_role("button", name="释放").click()  # no reason: the browser asks for one
    assert row.locator("input").evaluate("input => input.validity.valueMissing")
    assert as_user("auditor").get("/api/v1/holds").body["holds"][0]["active"]
    row.locator("input").fill("法院解除保全")
    row.get_by_role("button", name="释放").click()
    expect(page.locator("#notice")).to_contain_text(f"已释放 {customer} 的保全")
    expect(page.locator("#holds-empty")).to_be_visible()
    page.locator("#q-state").select_option("all")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#holds-table tbody tr")).to_contain_text("已结束")

    (hold,) = as_user("auditor").get("/api/v1/holds?state=all").body["holds"]
    assert (hold["placed_by"], hold["reason"], hold["active"]) == (
        "compliance",
        "法院协助执行通知书 (2030) 17 号",
        False,
    )

    # A second order names the person by ID number: a wrong check character is refused at the field.
    page.locator("#hold-id_type").select_option("resident_id")
    page.locator("#hold-id_number").fill(VALID_FORM["id_number"][:-1] + "1")
    page.locator("#hold-reason").fill("协助执行通知书 (2031) 3 号")
    page.locator("#place-button").click()
    expect(page.locator("#hold-id_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#hold-id_number-error")).not_to_be_empty()
    page.locator("#hold-id_number").fill(VALID_FORM["id_number"])
    page.locator("#place-button").click()
    expect(page.locator("#notice")).to_contain_text(f"已对 {customer} 设立保全")
    expect(page.locator("#hold-id_number")).to_have_value("")
    active = as_user("auditor").get("/api/v1/holds").body["holds"]
    second = "协助执行通知书 (2031) 3 号"
    assert [(h["subject"], h["reason"]) for h in active] == [(customer, second)]


def test_an_auditor_sees_holds_but_places_none_and_the_front_desk_has_no_page(
    open_session, customer, as_user
):
    placed = as_user("officer").post(
        "/api/v1/holds", {"subject": customer, "kind": "legal_hold", "reason": "court order"}
    )
    assert placed.status == 201, placed.body
    auditor = open_session("en")
    page = auditor.log_in("auditor")
    page.get_by_role("link", name="Legal holds").click()
    row = page.locator("#holds-table tbody tr")
    expect(row).to_contain_text("court order")
    expect(row).to_contain_text("Legal hold")
    expect(row).to_contain_text("officer")
    expect(page.locator("#place-hold")).to_have_count(0)
    expect(row.get_by_role("button")).to_have_count(0)
    auditor.shot("holds-auditor-en")

    desk = open_session("zh-CN")
    desk_page = desk.log_in("frontdesk")
    expect(desk_page.get_by_role("link", name="法律保全")).to_have_count(0)
