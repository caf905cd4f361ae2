"""The case page shows what the case told its customer: each notice, its state and, when it
could not go, why (in the page's language); never the number."""

from __future__ import annotations

from playwright.sync_api import expect

from service.notifications.delivery import HttpSmsChannel, deliver_due
from tests.api.conftest import VALID_FORM
from tests.processes.test_deletion import REQUEST
from tests.processes.test_notifications import Gateway


def _refused_deletion(as_user) -> str:
    desk, reviewer = as_user("frontdesk"), as_user("reviewer")
    case = desk.start("deletion")
    assert desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST).status == 200
    done = reviewer.complete(
        reviewer.task_of(case["id"], "review_deletion"),
        {"decision": "reject", "review_reason": "proof not genuine"},
    )
    assert done.body["outcome"] == "refused", done.body
    return case["id"]


def test_the_case_page_lists_the_customer_notices(open_session, deps, as_user, customer):
    sent_case, failing_case = _refused_deletion(as_user), _refused_deletion(as_user)
    gateway = Gateway()
    try:
        gateway.answers = [200, 503]
        delivered = deliver_due(deps, HttpSmsChannel(gateway.url))
        assert (delivered.sent, delivered.retrying) == (1, 1)
    finally:
        gateway.server.shutdown()
        gateway.server.server_close()

    session = open_session("zh-CN")
    session.log_in("auditor")
    page = session.go(f"/cases/{sent_case}")
    row = page.locator("#notifications tr[data-notice='deletion_refused']")
    expect(row).to_contain_text("删除未通过")
    expect(row).to_contain_text("已发送")
    page = session.go(f"/cases/{failing_case}")
    row = page.locator("#notifications tr[data-notice='deletion_refused']")
    expect(row).to_contain_text("待发送")
    expect(row).to_contain_text("短信网关拒收(HTTP 503)")
    expect(page.locator("body")).not_to_contain_text(VALID_FORM["mobile"])
    session.shot("case-notices-zh")
