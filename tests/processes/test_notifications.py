"""Customer notifications reach the customer through an SMS gateway's HTTP API, and no
number stays readable: each is sealed under its own key until it is sent, given up or
expired; a deletion's confirmation goes as the subject's key is destroyed, or never.

The gateway here is a real HTTP server on loopback that records what it receives."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, text

from service.access.service import SYSTEM, Actor
from service.audit.models import AuditRecord
from service.notifications import Notification
from service.notifications.delivery import (
    MAX_ATTEMPTS,
    HttpSmsChannel,
    deliver_due,
    expire_stale,
    reference_of,
)
from service.vault import holds
from service.vault.models import NotificationKey
from service.vault.shredding import SHRED_JOB, shred_subject
from tests.api.conftest import VALID_FORM
from tests.processes.test_deletion import _approved_by_both, _case, refused_at_review

DIGITS = VALID_FORM["mobile"]
MOBILE = "+86" + DIGITS  # as the vault keeps it (E.164), and as the gateway gets it


class Gateway:
    """An SMS gateway: records each POST and answers with the next queued status (200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.received.append({"headers": dict(self.headers), "body": body})
                status = gateway.answers.pop(0) if gateway.answers else 200
                # A gateway's error text may echo the number: it must not be kept.
                reply = json.dumps({"error": f"cannot send to {body['to']}"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [request["body"] for request in self.received]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    running = Gateway()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _with_gateway(deps, url: str):
    """The deps a worker has when DATASTEWARD_NOTIFY_URL names the gateway."""
    return dataclasses.replace(deps, settings=dataclasses.replace(deps.settings, notify_url=url))


def _rows(deps, case_id: str) -> list[SimpleNamespace]:
    columns = [c.key for c in Notification.__table__.columns]
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification).where(Notification.case_id == case_id).order_by(Notification.id)
        )
        return [SimpleNamespace(**{name: getattr(row, name) for name in columns}) for row in rows]


def _keys(deps) -> int:
    with deps.unit_of_work() as uow:
        return uow.keystore.scalar(select(func.count()).select_from(NotificationKey)) or 0


def _nowhere_in_clear(deps) -> None:
    """The number appears in no table of the data database, in any column."""
    from sqlalchemy import inspect

    digits = DIGITS
    with deps.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes):
                        assert digits.encode() not in value, table
                    elif value is not None:
                        assert digits not in str(value), table


def _run_shred_job(deps) -> None:
    from service.vault.models import DeletionRequest

    (job,) = [kw for _, name, kw in deps.extras["published"] if name == SHRED_JOB][-1:]
    with deps.unit_of_work() as uow:
        request = uow.session.get_one(DeletionRequest, job["request_id"])
        subject, case_id = request.subject, request.case_id
    shred_subject(deps, SYSTEM, subject, case_id, job["request_id"])


def test_a_refusal_reaches_the_customer_and_then_nothing_of_the_number_is_readable(
    api, deps, customer, gateway
):
    case_id = refused_at_review(api)
    (queued,) = _rows(deps, case_id)
    assert (queued.template, queued.state, queued.attempts) == ("deletion_refused", "queued", 0)
    assert queued.destination is not None and DIGITS.encode() not in queued.destination
    assert _keys(deps) == 1
    _nowhere_in_clear(deps)

    delivered = deliver_due(deps, HttpSmsChannel(gateway.url, token="gw-token"))
    assert (delivered.sent, delivered.failed, delivered.retrying) == (1, 0, 0)
    (message,) = gateway.received
    assert message["body"]["to"] == MOBILE
    assert "删除申请未获通过" in message["body"]["text"]
    assert reference_of(case_id) in message["body"]["text"]
    assert message["headers"]["Authorization"] == "Bearer gw-token"
    assert message["headers"]["Idempotency-Key"] == message["body"]["reference"]

    (sent,) = _rows(deps, case_id)
    assert (sent.state, sent.attempts, sent.destination) == ("sent", 1, None)
    assert sent.sent_at is not None
    assert _keys(deps) == 0
    assert deliver_due(deps, HttpSmsChannel(gateway.url)).sent == 0  # sent once
    assert len(gateway.received) == 1
    with deps.unit_of_work() as uow:
        details = uow.session.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "notification.sent")
        ).all()
    assert [d["template"] for d in details] == ["deletion_refused"]
    _nowhere_in_clear(deps)

    shown = api("auditor").get(f"/api/v1/cases/{case_id}").body["notifications"]
    assert [(n["template"], n["state"], n["attempts"]) for n in shown] == [
        ("deletion_refused", "sent", 1)
    ]


def test_a_refusing_gateway_is_tried_again_later_then_given_up(api, deps, customer, gateway, clock):
    case_id = refused_at_review(api)
    gateway.answers = [503] * MAX_ATTEMPTS
    channel = HttpSmsChannel(gateway.url)

    assert deliver_due(deps, channel).retrying == 1
    (row,) = _rows(deps, case_id)
    assert (row.state, row.attempts, row.last_error) == ("queued", 1, "gateway answered HTTP 503")
    assert deliver_due(deps, channel).retrying == 0  # not due again yet
    assert len(gateway.received) == 1
    for pause in (1, 2, 4, 8):
        clock.advance(minutes=pause)
        assert deliver_due(deps, channel).retrying == 1
    clock.advance(minutes=16)
    assert deliver_due(deps, channel).failed == 1
    assert len(gateway.received) == MAX_ATTEMPTS
    (row,) = _rows(deps, case_id)
    assert (row.state, row.attempts, row.destination) == ("failed", MAX_ATTEMPTS, None)
    assert _keys(deps) == 0
    clock.advance(days=1)
    deliver_due(deps, channel)
    assert len(gateway.received) == MAX_ATTEMPTS
    _nowhere_in_clear(deps)  # the gateway's error text named the number; it was not kept


def test_an_unreachable_gateway_is_recorded_without_details_and_stops_the_batch(
    api, deps, customer, gateway
):
    first, second = refused_at_review(api), refused_at_review(api)
    url = gateway.url
    gateway.server.shutdown()
    gateway.server.server_close()
    assert deliver_due(deps, HttpSmsChannel(url, timeout_s=2)).retrying == 1
    (tried,) = _rows(deps, first)
    assert tried.last_error is not None and tried.last_error.startswith("gateway unreachable")
    (waiting,) = _rows(deps, second)  # not tried: it would only have waited for a timeout too
    assert (waiting.state, waiting.attempts, waiting.last_error) == ("queued", 0, None)


def test_a_deletion_is_confirmed_as_the_key_is_destroyed(api, deps, customer, gateway):
    case_id = _approved_by_both(api)
    (waiting,) = _rows(deps, case_id)
    assert (waiting.template, waiting.state) == ("deletion_done", "waiting")
    with deps.unit_of_work() as uow:
        sealed = uow.session.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "notification.sealed")
        ).all()
    assert [(d["template"], d["state"]) for d in sealed] == [("deletion_done", "waiting")]
    assert deliver_due(deps, HttpSmsChannel(gateway.url)).sent == 0  # not before the deletion
    assert gateway.received == []

    _run_shred_job(_with_gateway(deps, gateway.url))
    assert _case(deps, case_id) == ("completed", "deleted")
    (message,) = gateway.bodies()
    assert message["to"] == MOBILE and "彻底删除" in message["text"]
    (sent,) = _rows(deps, case_id)  # the case's own notify step added nothing
    assert (sent.state, sent.destination) == ("sent", None)
    assert _keys(deps) == 0
    _nowhere_in_clear(deps)


def test_a_confirmation_that_cannot_go_with_the_key_never_goes(api, deps, customer, gateway):
    case_id = _approved_by_both(api)
    gateway.answers = [502]
    _run_shred_job(_with_gateway(deps, gateway.url))
    assert _case(deps, case_id) == ("completed", "deleted")  # the deletion did not wait
    (row,) = _rows(deps, case_id)
    assert (row.state, row.last_error, row.destination) == (
        "failed",
        "gateway answered HTTP 502",
        None,
    )
    assert _keys(deps) == 0
    deliver_due(deps, HttpSmsChannel(gateway.url))
    assert len(gateway.received) == 1


def test_without_a_gateway_the_deletion_still_leaves_no_number(api, deps, customer):
    case_id = _approved_by_both(api)
    _run_shred_job(deps)
    (row,) = _rows(deps, case_id)
    assert (row.state, row.last_error) == ("failed", "no delivery channel was configured")
    assert _keys(deps) == 0


def test_a_held_deletion_tells_the_customer_twice_from_the_number_sealed_at_approval(
    api, deps, customer, more_users, gateway, clock
):
    compliance = Actor(more_users["compliance"], "compliance", frozenset({"compliance"}))
    hold = holds.place_hold(deps, compliance, customer, "legal_hold", "court order 2030-17", None)
    case_id = _approved_by_both(api)
    worker = _with_gateway(deps, gateway.url)
    _run_shred_job(worker)
    assert _case(deps, case_id) == ("completed", "secured_only")
    waiting, held = _rows(deps, case_id)
    assert (waiting.state, held.template, held.state) == ("waiting", "deletion_held", "queued")
    assert deliver_due(worker, HttpSmsChannel(gateway.url)).sent == 1
    assert [(m["to"], "封存" in m["text"]) for m in gateway.bodies()] == [(MOBILE, True)]

    clock.advance(days=3)
    holds.release_hold(deps, compliance, hold["id"], "court order lifted")
    _run_shred_job(worker)
    assert [m["to"] for m in gateway.bodies()] == [MOBILE, MOBILE]
    assert "彻底删除" in gateway.bodies()[1]["text"]
    assert {row.state for row in _rows(deps, case_id)} == {"sent"}
    assert _keys(deps) == 0


def test_what_is_never_released_or_sent_expires_and_is_erased(api, deps, customer, clock):
    case_id = refused_at_review(api)
    clock.advance(days=deps.settings.notify_retention_days - 1)
    assert expire_stale(deps, clock()) == 0
    clock.advance(days=2)
    assert expire_stale(deps, clock()) == 1
    (row,) = _rows(deps, case_id)
    assert (row.state, row.destination) == ("expired", None)
    assert _keys(deps) == 0


def test_a_case_without_a_number_to_send_to_says_so(api, deps, customer, more_users):
    compliance = Actor(more_users["compliance"], "compliance", frozenset({"compliance"}))
    holds.place_hold(deps, compliance, customer, "legal_hold", "court order 2030-17", None)
    with deps.unit_of_work() as uow:  # held without a deletion: stored and secured only
        uow.session.execute(
            text("UPDATE subjects SET status = 'held' WHERE pseudonym = :s"), {"s": customer}
        )
        uow.commit()
    case_id = refused_at_review(api)
    (row,) = _rows(deps, case_id)
    assert (row.state, row.destination) == ("undeliverable", None)
    assert row.last_error == "no contact number for this case's customer"


def test_a_changed_number_tells_both_the_new_number_and_the_one_it_replaced(
    api, deps, customer, gateway
):
    from tests.processes.test_update import NEW_MOBILE, applied_change

    applied_change(api, customer)
    assert deliver_due(deps, HttpSmsChannel(gateway.url)).sent == 2
    told = {m["to"]: m["text"] for m in gateway.bodies()}
    assert set(told) == {MOBILE, "+86" + NEW_MOBILE}
    assert "不再是您在我司登记的联系号码" in told[MOBILE]
    assert NEW_MOBILE not in told[MOBILE] and VALID_FORM["name"] not in told[MOBILE]
    assert "变更申请已办理完成" in told["+86" + NEW_MOBILE]
    assert _keys(deps) == 0


def test_a_change_that_keeps_the_number_tells_only_the_customer(api, deps, customer):
    from tests.processes.conftest import IDENTIFY

    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start("update")
    request = IDENTIFY | {"new_address": "上海市浦东新区世纪大道100号", "reason": "moved house"}
    assert desk.complete(desk.task_of(case["id"], "file_change_request"), request).status == 200
    done = reviewer.complete(reviewer.task_of(case["id"], "review_change"), {"decision": "approve"})
    assert done.body["outcome"] == "updated", done.body
    assert [row.template for row in _rows(deps, case["id"])] == ["change_applied"]


def test_a_deletion_gives_up_the_customers_other_unsent_notices_with_the_key(
    api, deps, customer, gateway
):
    from tests.processes.test_update import NEW_MOBILE, applied_change

    update = applied_change(api, customer)
    assert {row.state for row in _rows(deps, update)} == {"queued"}  # the gateway is down
    deletion = _approved_by_both(api)
    _run_shred_job(_with_gateway(deps, gateway.url))
    assert _case(deps, deletion) == ("completed", "deleted")
    left = _rows(deps, update)
    assert [(r.template, r.state, r.destination) for r in left] == [
        ("mobile_replaced", "failed", None),
        ("change_applied", "failed", None),
    ]
    assert {r.last_error for r in left} == {"the customer's data was deleted before it was sent"}
    assert _keys(deps) == 0
    (sent,) = gateway.bodies()  # only the deletion's confirmation, to the current number
    assert "彻底删除" in sent["text"] and sent["to"].endswith(NEW_MOBILE)
