"""Supervision in the browser: a task someone else holds is taken back with a reason (from
its case page, or from the supervisor's list of what staff hold), and the task list warns
staff whose training is running out."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import add_user


def test_a_supervisor_takes_back_an_overdue_review_someone_else_holds(
    open_session, deps, clock, as_user, customer
):
    from service.access.service import SYSTEM
    from service.cases.service import fire_due_timers

    add_user(deps, "supervisor", ["supervisor"])
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start("deletion")
    request = {
        "id_type": VALID_FORM["id_type"],
        "id_number": VALID_FORM["id_number"],
        "reason": "withdrawn_consent",
        "reason_detail": "customer closed the account",
    }
    filed = desk.complete(desk.task_of(case["id"], "file_deletion_request"), request)
    assert filed.status == 200, filed.body
    task_id = desk.task_of(case["id"], "review_deletion")
    assert reviewer.post(f"/api/v1/tasks/{task_id}/claim").status == 200
    clock.advance(days=40)
    assert fire_due_timers(deps, SYSTEM) == 1  # the overdue review escalates to the supervisor

    session = open_session("zh-CN")
    session.log_in("supervisor")
    page = session.go(f"/cases/{case['id']}")
    form = page.locator("#open-tasks form.release")
    expect(form).to_have_count(1)
    form.locator("input").fill("审核员休假")
    form.get_by_role("button", name="收回任务").click()
    expect(page.locator("#notice")).to_contain_text("任务已放回")
    expect(page.locator("#open-tasks form.release")).to_have_count(0)
    session.shot("case-supervisor-release-zh")
    claimable = as_user("reviewer2").get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert task_id in [t["id"] for t in claimable]


def test_a_supervisor_sees_what_staff_hold_and_takes_one_back(open_session, deps, clock, as_user):
    add_user(deps, "supervisor", ["supervisor"])
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    task_id = desk.task_of(case["id"], "review")
    assert reviewer.post(f"/api/v1/tasks/{task_id}/claim").status == 200

    # Staff see no such list.
    staff = open_session("en").log_in("reviewer2")
    expect(staff.locator("#claimable")).to_contain_text("No tasks")  # loaded
    expect(staff.locator("#held")).to_have_count(0)

    session = open_session("en")
    page = session.log_in("supervisor")
    row = page.locator(f"#table-held tr[data-task-id='{task_id}']")
    expect(row).to_be_visible()
    expect(row.locator(".holder")).to_have_text("reviewer")
    expect(row.locator("time").first).to_have_attribute("datetime", clock().isoformat())
    session.shot("tasks-held-en")
    # The step opens its case's page, which a supervisor may see (not the task's).
    expect(row.locator("td").first.locator("a")).to_have_attribute("href", f"/cases/{case['id']}")
    row.locator("input").fill("reviewer off sick")
    row.get_by_role("button", name="Take back").click()
    expect(page.locator("#notice")).to_contain_text("back in its lane")
    expect(page.locator(f"#table-held tr[data-task-id='{task_id}']")).to_have_count(0)
    claimable = as_user("reviewer2").get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert task_id in [t["id"] for t in claimable]


def test_the_task_list_warns_staff_whose_training_is_running_out(open_session, deps, clock):
    add_user(deps, "expiring_desk", ["front_desk"], trained_days=10)
    add_user(deps, "lapsed_desk", ["front_desk"], trained_days=10)
    page = open_session("zh-CN").log_in("expiring_desk")
    due = (clock() + timedelta(days=10)).date().isoformat()
    expect(page.locator(".training-due")).to_contain_text(f"个人信息保护培训将于 {due} 到期")
    expect(open_session("zh-CN").log_in("frontdesk").locator(".training-due")).to_have_count(0)
    clock.advance(days=11)
    lapsed = open_session("en").log_in("lapsed_desk")
    expect(lapsed.locator(".training-due")).to_contain_text("training has lapsed")
