"""The beat's delivery job sends queued customer notifications, in a real Celery worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from service.notifications import Notification, notify_customer
from service.vault import service as vault
from tests.api.conftest import VALID_FORM
from tests.integration.worker_harness import wait_for
from tests.processes.test_notifications import Gateway


def _state(deps, notification_id: int) -> str:
    with deps.unit_of_work() as uow:
        return uow.session.get_one(Notification, notification_id).state


def test_the_beat_delivers_a_queued_notification_through_the_gateway(
    deps, clock, broker_url, start_worker
):
    clock.now = datetime.now(UTC)  # the worker runs on the real clock
    gateway = Gateway()
    try:
        with deps.unit_of_work() as uow:
            fields = vault.clean_subject_fields(VALID_FORM)
            subject = vault.store_draft(uow, deps.keys, fields, clock())
            vault.enter_subject(uow, subject, clock())
            notification = notify_customer(
                uow, deps.keys, subject, "change_applied", str(uuid.uuid4()), clock()
            )
            uow.commit()
        start_worker(
            broker_url,
            DATASTEWARD_NOTIFY_URL=gateway.url,
            DATASTEWARD_NOTIFY_INTERVAL_S="1",
            DATASTEWARD_NOTIFY_LANGUAGE="en",
        )
        assert wait_for(lambda: _state(deps, notification) == "sent", timeout=90)
        (message,) = gateway.bodies()
        assert message["to"] == "+86" + VALID_FORM["mobile"]
        assert message["text"].startswith("Your request to change your personal data")
    finally:
        gateway.server.shutdown()
        gateway.server.server_close()
