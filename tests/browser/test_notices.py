"""The case page shows what the case told its customer: each notice, its state and, when it
could not go, why (in the page's language); never the number."""

from __future__ import annotations

from playwright.sync_api import expect

from service.notifications.delivery import HttpSmsChannel, deliver_due
from tests.api.conftest import VALID_FORM
from tests.processes.test_deletion import refused_at_review
from tests.processes.test_notifications import Gateway


def test_the_case_page_lists_the_customer_notices(open_session, deps, as_user, customer):
    sent_case, failing_case = refused_at_review(as_user), refused_at_review(as_user)
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
    expect(page.locator("#case-outcome")).to_have_text("已拒绝")  # the end event's name
    row = page.locator("#notifications tr[data-notice='deletion_refused']")
    expect(row).to_contain_text("删除未通过")
    expect(row).to_contain_text("已发送")
    page = session.go(f"/cases/{failing_case}")
    row = page.locator("#notifications tr[data-notice='deletion_refused']")
    expect(row).to_contain_text("待发送")
    expect(row).to_contain_text("短信网关拒收(HTTP 503)")
    expect(page.locator("body")).not_to_contain_text(VALID_FORM["mobile"])
    session.shot("case-notices-zh")
