"""The task page finds a case by the reference a customer quotes, and lists the cases I started."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.api.conftest import CONSENT


def test_the_front_desk_finds_a_customers_case_by_its_reference(open_session, as_user):
    desk = as_user("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)

    session = open_session("zh-CN")
    page = session.log_in("frontdesk")
    row = page.locator(f"#table-started tr[data-case-id='{case['id']}']")
    expect(row).to_contain_text("信息采集")
    expect(row).to_contain_text("进行中")
    expect(page.locator("#start-procedure")).to_have_value("collection")
    options = page.locator("#start-procedure option")
    expect(options).to_have_count(4)  # access, collection, deletion, update: the front desk's
    session.shot("tasks-started-zh")

    page.locator("#case-reference").fill("0000000z")
    page.get_by_role("button", name="查找").click()
    expect(page).to_have_url(re.compile(r".*/tasks$"))  # the browser's own check stops it

    missing = "ffffffff" if not case["id"].startswith("ffffffff") else "00000000"
    page.locator("#case-reference").fill(missing)
    page.get_by_role("button", name="查找").click()
    expect(page.locator("#no-case")).to_contain_text("没有您可查看的此编号案件")

    page.locator("#case-reference").fill(f"{case['id'][:4].upper()} {case['id'][4:8]}")  # read out
    page.get_by_role("button", name="查找").click()
    expect(page).to_have_url(re.compile(rf".*/cases/{case['id']}$"))
    expect(page.locator("#case-id")).to_have_text(case["id"][:8])
    # The reference as an address opens the case it names.
    page = session.go(f"/cases/{case['id'][:8]}")
    expect(page).to_have_url(re.compile(rf".*/cases/{case['id']}$"))
    expect(page.locator("#case-id")).to_have_text(case["id"][:8])


def test_the_start_form_offers_only_what_the_user_starts(open_session):
    session = open_session("en")
    page = session.log_in("reviewer")
    expect(page.locator("#claimable")).to_contain_text("No tasks")  # loaded
    expect(page.locator("#start-form")).to_be_hidden()
    page = open_session("en").log_in("dept")
    expect(page.locator("#start-form")).to_be_visible()
    options = page.locator("#start-procedure option")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("value", "query")
