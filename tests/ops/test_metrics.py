"""/metrics: the figures move as cases run, and only committed work counts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from service.cases.models import Task
from tests.api.conftest import CONSENT, VALID_FORM
from tests.ops.conftest import metric_value


def scrape(client) -> str:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.mimetype == "text/plain"
    return reply.get_data(as_text=True)


def test_cases_started_and_finished_move_as_a_collection_runs(client, api):
    before = scrape(client)
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    middle = scrape(client)
    reviewer.complete(reviewer.task_of(case["id"], "review"), {"decision": "approve"})
    after = scrape(client)

    def moved(name: str, text: str, **labels: str) -> float:
        return metric_value(text, name, **labels) - metric_value(before, name, **labels)

    started, finished = "datasteward_cases_started_total", "datasteward_cases_finished_total"
    assert moved(started, middle, procedure="collection") == 1
    assert moved(finished, middle, procedure="collection") == 0
    assert moved(finished, after, procedure="collection") == 1
    waits = "datasteward_task_wait_seconds_count"
    assert moved(waits, after, procedure="collection", lane="front_desk") == 2
    assert moved(waits, after, procedure="collection", lane="reviewer") == 1


def test_requests_are_counted_per_route_template_not_per_path(client, api):
    desk = api("frontdesk")
    case = desk.start()
    desk.get(f"/api/v1/cases/{case['id']}")
    text = scrape(client)
    route = "/api/v1/cases/<case_id>"
    assert metric_value(text, "datasteward_http_requests_total", route=route, status="200") >= 1
    assert (
        metric_value(
            text, "datasteward_http_request_duration_seconds_count", method="GET", route=route
        )
        >= 1
    )
    assert case["id"] not in text


def test_a_refused_start_counts_no_case(client, api):
    before = metric_value(scrape(client), "datasteward_cases_started_total")
    reply = api("auditor").post("/api/v1/cases", {"procedure": "collection"})
    assert reply.status == 403
    assert metric_value(scrape(client), "datasteward_cases_started_total") == before


def test_overdue_tasks_and_audit_head_age_are_read_from_the_database(client, api, deps, clock):
    desk = api("frontdesk")
    case = desk.start()
    with deps.unit_of_work() as uow:
        uow.session.execute(
            update(Task)
            .where(Task.case_id == case["id"])
            .values(due_at=clock() + timedelta(hours=4))
        )
        uow.commit()
    assert metric_value(scrape(client), "datasteward_tasks_overdue", procedure="collection") == 0
    clock.advance(hours=5)
    text = scrape(client)
    assert metric_value(text, "datasteward_tasks_overdue", procedure="collection") == 1
    assert metric_value(text, "datasteward_audit_chain_head_age_seconds") >= 5 * 3600


def test_unsent_customer_notifications_and_their_age_are_read_from_the_database(
    client, api, deps, clock
):
    from service.notifications.delivery import HttpSmsChannel, deliver_due
    from tests.processes.test_deletion import refused_at_review
    from tests.processes.test_notifications import Gateway

    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    api("reviewer").complete(api("reviewer").task_of(case["id"], "review"), {"decision": "approve"})
    refused_at_review(api)

    clock.advance(minutes=10)
    text = scrape(client)
    assert metric_value(text, "datasteward_notifications_unsent", state="queued") == 1
    assert metric_value(text, "datasteward_notifications_unsent", state="waiting") == 0
    assert (
        metric_value(text, "datasteward_notifications_oldest_unsent_seconds", state="queued") == 600
    )
    gateway = Gateway()
    try:
        assert deliver_due(deps, HttpSmsChannel(gateway.url)).sent == 1
    finally:
        gateway.server.shutdown()
        gateway.server.server_close()
    text = scrape(client)
    assert metric_value(text, "datasteward_notifications_unsent", state="queued") == 0
    assert (
        metric_value(text, "datasteward_notifications_oldest_unsent_seconds", state="queued") == 0
    )
