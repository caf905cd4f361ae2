"""Staff in the browser: a front-desk user collects a customer, a reviewer approves it."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect
from sqlalchemy import insert

from service.cases.models import Task
from tests.api.conftest import CONSENT, VALID_FORM


def _start_collection(desk):
    page = desk.log_in("frontdesk")
    page.locator("#start-procedure").select_option("collection")
    page.get_by_role("button", name="开始", exact=True).click()
    page.wait_for_url(re.compile(r".*/tasks/[^/]+$"))
    return page


def _record_consent(page):
    page.locator("#field-purpose").select_option("service_contract")
    page.locator("#field-consent_text_version").fill("v3.1")
    page.locator("#field-consent_given").check()
    page.locator("#field-sensitive_consent_given").check()
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()


def _fill_collection_form(desk, page):
    page.locator("#task-done a.primary").click()
    expect(page.locator("h2#form-head")).to_have_text("用户信息采集表")
    page.locator("#field-name").fill(VALID_FORM["name"])
    page.locator("#field-id_type").select_option("resident_id")
    page.locator("#field-id_number").fill(VALID_FORM["id_number"])
    page.locator("#field-mobile").fill("12345")
    page.locator("#field-address").fill(VALID_FORM["address"])
    page.locator("#complete-button").click()
    # The schema's own rule, shown next to the field before anything is sent.
    expect(page.locator("#field-mobile-error")).to_have_text("格式不正确")
    expect(page.locator("#field-mobile")).to_have_attribute("aria-invalid", "true")
    desk.shot("task-form-validation-zh")
    page.locator("#field-mobile").fill(VALID_FORM["mobile"])
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
    page.get_by_role("link", name="查看案件").click()
    expect(page.locator("#open-tasks")).to_contain_text("审核")
    expect(page.locator("#history")).to_contain_text("完成任务 · 填写用户信息采集表")
    return page.url


def _case_diagram_marks_progress(open_session, case_url):
    # Compliance oversees every case; the diagram shows what is done and what is next.
    overseer = open_session("zh-CN")
    page = overseer.log_in("compliance")
    page.goto(case_url)
    expect(page.locator("#canvas")).to_have_attribute("data-ready", "true")
    expect(page.locator(".djs-element.ds-done")).not_to_have_count(0)
    expect(page.locator(".djs-element.ds-current")).to_have_count(1)
    expect(page.locator(".djs-element.ds-current")).to_have_attribute("data-element-id", "review")
    overseer.shot("case-zh")


def test_front_desk_collects_a_customer_and_a_reviewer_approves_it(open_session):
    desk = open_session("zh-CN")
    page = _start_collection(desk)
    _record_consent(page)
    case_url = _fill_collection_form(desk, page)
    _case_diagram_marks_progress(open_session, case_url)

    reviewer = open_session("zh-CN")
    page = reviewer.log_in("reviewer")
    row = page.locator("#table-claimable tbody tr").first
    expect(row).to_contain_text("审核")
    reviewer.shot("tasks-zh")
    row.get_by_role("button", name=re.compile("^领取")).click()
    mine = page.locator("#table-mine tbody tr").first
    expect(mine).to_contain_text("已领取")
    mine.get_by_role("link", name=re.compile("^打开")).click()
    # The eligible reviewer sees the values in clear, and is told the read is audited.
    expect(page.locator("#subject-fields [data-field=name]")).to_have_text(VALID_FORM["name"])
    expect(page.locator(".subject")).to_contain_text("审计")
    page.locator("#field-decision").select_option("return")
    page.locator("#complete-button").click()
    expect(page.locator("#field-reason-error")).to_have_text("此项必填")
    page.locator("#field-decision").select_option("approve")
    reviewer.shot("task-review-zh")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
    review_url = page.url
    page.get_by_role("link", name="查看案件").click()
    expect(page.locator("#case-facts")).to_contain_text("已完成")
    expect(page.locator("#history")).to_contain_text("完成任务")
    # The done task's page says it is done, instead of an empty form nobody may use.
    page.goto(review_url)
    expect(page.locator("#task-closed")).to_contain_text("此任务已办结")
    expect(page.locator("#task-form")).to_have_count(0)


def test_a_refused_action_shows_its_reason(open_session, users):
    desk = open_session("en")
    page = desk.log_in("allrounder")
    page.locator("#start-procedure").select_option("collection")
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r".*/tasks/[^/]+$"))
    _record_consent(page)
    page.locator("#task-done a.primary").click()
    for field, value in VALID_FORM.items():
        if field == "id_type":
            page.locator(f"#field-{field}").select_option(value)
        else:
            page.locator(f"#field-{field}").fill(value)
    page.locator("#complete-button").click()
    page.locator("#task-done a.button", has_text="Back to the task list").click()
    row = page.locator("#table-claimable tbody tr", has_text="Review").first
    row.get_by_role("button", name=re.compile("^Claim")).click()
    alert = page.locator("#alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The action was refused")
    expect(alert).to_contain_text("separation of duties: you started this case")
    desk.shot("refusal-en")


def test_compliance_searches_the_audit_trail_for_refusals(open_session):
    desk = open_session("zh-CN")
    page = desk.log_in("frontdesk")
    page.goto(desk.base + "/audit")  # a page shell: the API refuses the data, with its reason
    expect(page.locator("#alert")).to_be_visible()
    overseer = open_session("zh-CN")
    page = overseer.log_in("compliance")
    page.get_by_role("link", name="审计记录").click()
    page.locator("#q-outcome").select_option("refused")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#audit-table")).to_contain_text("frontdesk")
    expect(page.locator("#audit-table")).to_contain_text("拒绝")
    overseer.shot("audit-zh")
    # Actions are chosen by name; "done" finds what succeeded; a day bounds the search.
    page.locator("#q-outcome").select_option("done")
    page.locator("#q-action").select_option("auth.login")
    expect(page.locator("#q-action option:checked")).to_contain_text("登录")
    page.locator("#q-from").fill("2000-01-01")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#audit-table")).to_contain_text("compliance")
    expect(page.locator("#audit-table")).not_to_contain_text("拒绝")
    page.locator("#q-to").fill("2000-01-02")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#audit-table tbody tr")).to_have_count(0)


def test_a_queue_longer_than_a_page_loads_the_rest_on_request(open_session, as_user, deps):
    case = as_user("frontdesk").start("collection")
    now = deps.now()
    extra = [
        {
            "id": str(uuid.uuid4()),
            "case_id": case["id"],
            "procedure": "collection",
            "spec_name": "record_consent",
            "label": "记录同意 Record consent",
            "lane": "front_desk",
            "form": "consent",
            "status": "open",
            "created_at": now,
        }
        for _ in range(500)
    ]
    with deps.unit_of_work() as uow:
        uow.session.execute(insert(Task), extra)
        uow.commit()
    page = open_session().log_in("frontdesk")
    rows = page.locator("#table-claimable tbody tr")
    expect(rows).to_have_count(500)  # one page
    page.locator("#more-claimable").click()
    expect(rows).to_have_count(501)
    expect(page.locator("#more-claimable")).to_have_count(0)


def test_a_returned_form_comes_back_filled_in_with_the_reason_first(open_session, as_user):
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    reviewer.complete(
        reviewer.task_of(case["id"], "review"),
        {"decision": "return", "reason": "请核对地址门牌号"},
    )
    session = open_session("zh-CN")
    session.log_in("frontdesk")
    page = session.go(f"/tasks/{desk.task_of(case['id'], 'fill_form')}")
    expect(page.locator("#returned-reason")).to_contain_text("审核退回,请更正: 请核对地址门牌号")
    expect(page.locator("#field-name")).to_have_value(VALID_FORM["name"])
    expect(page.locator("#field-address")).to_have_value(VALID_FORM["address"])
    session.shot("task-returned-zh")
    page.locator("#field-address").fill("北京市朝阳区建国路89号")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
