"""A supervisor in the browser: a task someone else holds is taken back with a reason."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM


def test_a_supervisor_takes_back_an_overdue_review_someone_else_holds(
    open_session, deps, clock, as_user, customer
):
    from service.access.service import SYSTEM
    from service.cases.service import fire_due_timers
    from tests.conftest import add_user

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
