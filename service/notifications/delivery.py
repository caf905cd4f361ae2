"""Delivering customer notifications: the texts, the SMS gateway, retries and erasure.

The beat runs `deliver_due` every `notify_interval_s`. Each due notification
is delivered in a transaction of its own that locks its row (others skip it,
so two workers never send one twice at once): its destination is unsealed,
the text rendered and handed to the channel, and then

- accepted: `sent`, its key destroyed;
- refused or unreachable: tried again after a growing pause, and after
  `MAX_ATTEMPTS` given up as `failed`, its key destroyed. An unreachable
  gateway ends the run: the rest wait for the next one rather than each
  waiting out its own timeout.

Notifications nobody released or delivered within `notify_retention_days`
(a deletion's confirmation whose deletion stays held, or a gateway down for
that long) expire and are erased the same way. Every outcome is audited, by
template and case, never with the number or the text.

The channel is an SMS gateway's HTTP API (`HttpSmsChannel`: one JSON POST per
message, `notify_url`, optionally a bearer `notify_token`). Without a URL
nothing is sent and notifications wait in the queue (`datasteward
checkconfig` warns in production); the case page shows each one's state.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select

from service.config import Settings, SettingsError
from service.db import UnitOfWork
from service.deps import Deps
from service.notifications.models import UNSENT_STATES, Notification
from service.notifications.outbox import audit, erase, unseal

log = logging.getLogger("datasteward.notifications")
MAX_ATTEMPTS = 6
# Pause before attempt n + 1 after n failures: 1, 2, 4, 8, 16 minutes.
FIRST_PAUSE = timedelta(minutes=1)
BATCH = 100
UNREACHABLE = "unreachable"  # _deliver_one's outcome: tried again later, and the batch stops
LANGUAGES = ("zh-CN", "en")

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "change_applied": "您的个人信息变更申请已办理完成。业务编号:{reference}。",
        "change_rejected": "您的个人信息变更申请未获通过,详情请咨询营业厅。业务编号:{reference}。",
        "deletion_done": "您的个人信息已按删除申请彻底删除,无法恢复。业务编号:{reference}。",
        "deletion_held": (
            "您的个人信息删除申请已受理。因法律规定的保存义务,相关信息暂予封存、停止使用,"
            "义务结束后即删除。业务编号:{reference}。"
        ),
        "deletion_refused": (
            "您的个人信息删除申请未获通过,详情请咨询营业厅。业务编号:{reference}。"
        ),
        "mobile_replaced": (
            "本号码已不再是您在我司登记的联系号码。如非本人申请变更,请立即致电客服或前往营业厅。"
            "业务编号:{reference}。"
        ),
    },
    "en": {
        "change_applied": "Your request to change your personal data has been completed. "
        "Reference {reference}.",
        "change_rejected": "Your request to change your personal data was not approved; "
        "please ask at any of our shops. Reference {reference}.",
        "deletion_done": "Your personal data has been deleted as you requested and cannot be "
        "recovered. Reference {reference}.",
        "deletion_held": "We have your deletion request. A legal duty to keep the data applies: "
        "it is stored, secured and no longer used, and deleted once the duty ends. "
        "Reference {reference}.",
        "deletion_refused": "Your request to delete your personal data was not approved; "
        "please ask at any of our shops. Reference {reference}.",
        "mobile_replaced": "This number is no longer the contact number on your record with us. "
        "If you did not ask for this change, call us or visit a shop now. Reference {reference}.",
    },
}


class DeliveryError(Exception):
    """The channel did not take the message; the text says why without personal data."""


class GatewayUnreachable(DeliveryError):
    """No answer at all (refused, timed out): the next messages would fare no better now."""


class Channel(Protocol):
    def send(self, to: str, text: str, reference: str) -> None:
        """Hand one message over, or raise DeliveryError."""


class HttpSmsChannel:
    """An SMS gateway's HTTP API: POST {"to", "text", "reference"} as JSON; 2xx accepts.

    `reference` is the same on every attempt at one notification and goes as the
    Idempotency-Key header too, so a gateway can drop a repeat (a worker that
    crashed between the gateway's answer and its commit sends again).
    """

    def __init__(self, url: str, token: str = "", timeout_s: float = 10.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise SettingsError("DATASTEWARD_NOTIFY_URL: expected an http(s) URL")
        self.url, self.token, self.timeout_s = url, token, timeout_s

    def send(self, to: str, text: str, reference: str) -> None:
        body = json.dumps({"to": to, "text": text, "reference": reference}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": reference}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The URL's scheme is http(s), checked above.
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:  # noqa: S310
                status = reply.status
        except urllib.error.HTTPError as error:
            error.close()  # its body (which may echo the number) is not read, and not kept
            raise DeliveryError(f"gateway answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GatewayUnreachable(f"gateway unreachable ({type(reason).__name__})") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"gateway answered HTTP {status}")


def channel_for(settings: Settings) -> Channel | None:
    """The configured channel, or None when notifications are not delivered here."""
    if not settings.notify_url:
        return None
    return HttpSmsChannel(settings.notify_url, settings.notify_token)


def render(template: str, case_id: str, language: str) -> str:
    if language not in LANGUAGES:
        raise SettingsError(f"DATASTEWARD_NOTIFY_LANGUAGE: expected one of {', '.join(LANGUAGES)}")
    return TEXTS[language][template].format(reference=reference_of(case_id))


def reference_of(case_id: str) -> str:
    """What the customer quotes at the counter: the case id's first eight characters."""
    return case_id[:8].upper()


@dataclass(frozen=True)
class Delivered:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    expired: int = 0


def deliver_due(deps: Deps, channel: Channel, limit: int = BATCH) -> Delivered:
    """Send what is due now (at most `limit`), after expiring what is too old."""
    now = deps.now()
    expired = expire_stale(deps, now)
    with deps.db.read_unit_of_work() as uow:
        due = uow.session.scalars(
            select(Notification.id)
            .where(Notification.state == "queued", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        ).all()
    outcomes: list[str | None] = []
    for notification_id in due:
        outcome = _deliver_one(deps, channel, notification_id)
        outcomes.append(outcome)
        if outcome == UNREACHABLE:  # the rest wait for the next run, not a timeout each
            break
    return Delivered(
        sent=outcomes.count("sent"),
        failed=outcomes.count("failed"),
        retrying=outcomes.count("queued") + outcomes.count(UNREACHABLE),
        expired=expired,
    )


def expire_stale(deps: Deps, now: datetime) -> int:
    """Erase queued or waiting notifications older than the retention; returns how many."""
    oldest = now - timedelta(days=deps.settings.notify_retention_days)
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification)
            .where(Notification.state.in_(UNSENT_STATES), Notification.created_at < oldest)
            .with_for_update(skip_locked=True)
        ).all()
        _give_up(uow, rows, "expired", None, now)
        uow.commit()
        return len(rows)


def confirm_deletions(uow: UnitOfWork, deps: Deps, case_ids: list[str], now: datetime) -> None:
    """Send the waiting confirmations of these cases' deletions now, once, and erase them.

    Called by the deletion worker in the transaction that destroys the subjects'
    keys, so no readable copy of a number outlives its subject's key: what
    cannot be sent now (no gateway, gateway down) is not sent later either. After
    the first failure the rest of the batch is not tried (the gateway is down).
    """
    rows = uow.session.scalars(
        select(Notification)
        .where(Notification.case_id.in_(case_ids), Notification.state == "waiting")
        .order_by(Notification.id)
        .with_for_update()
    ).all()
    channel = channel_for(deps.settings)
    down: str | None = None if channel else "no delivery channel was configured"
    for row in rows:
        number = unseal(uow, deps.keys, row)
        row.attempts += 1
        if channel is None or down is not None or number is None:
            row.state, row.last_error = "failed", down or "the sealed destination is unreadable"
        elif (error := _attempt(deps, channel, row, number)) is not None:
            row.state, row.last_error = "failed", str(error)[:200]
            down = row.last_error
        else:
            row.state, row.sent_at = "sent", now
        erase(uow, row)
        audit(uow, row, f"notification.{row.state}", now)


def erase_unsent_of(uow: UnitOfWork, subjects: list[str], now: datetime) -> None:
    """Give up the subjects' notifications still unsent: their numbers die with the subjects' keys.

    Called by the deletion worker in the transaction that destroys the keys, after
    `confirm_deletions` has had its turn.
    """
    rows = uow.session.scalars(
        select(Notification)
        .where(Notification.subject.in_(subjects), Notification.state.in_(UNSENT_STATES))
        .order_by(Notification.id)
        .with_for_update()
    ).all()
    _give_up(uow, rows, "failed", "the customer's data was deleted before it was sent", now)


def _give_up(
    uow: UnitOfWork, rows: Sequence[Notification], state: str, why: str | None, now: datetime
) -> None:
    """Unsent notifications ended (expired, failed) and erased, each step audited."""
    for row in rows:
        row.state = state
        if why is not None:
            row.last_error = why
        erase(uow, row)
        audit(uow, row, f"notification.{state}", now)


def _attempt(deps: Deps, channel: Channel, row: Notification, number: str) -> DeliveryError | None:
    """One attempt: the text rendered and handed over; why it was not taken, or None."""
    text = render(row.template, row.case_id, deps.settings.notify_language)
    try:
        channel.send(number, text, f"datasteward-notification-{row.id}")
    except DeliveryError as error:
        return error
    return None


def _deliver_one(deps: Deps, channel: Channel, notification_id: int) -> str | None:
    now = deps.now()
    with deps.unit_of_work() as uow:
        row = uow.session.scalar(
            select(Notification)
            .where(Notification.id == notification_id, Notification.state == "queued")
            .with_for_update(skip_locked=True)
        )
        if row is None:  # another worker has it, or it is done
            return None
        number = unseal(uow, deps.keys, row)
        row.attempts += 1
        unreachable = False
        if number is None:
            row.state, row.last_error = "failed", "the sealed destination is unreadable"
        elif (error := _attempt(deps, channel, row, number)) is not None:
            row.last_error = str(error)[:200]
            unreachable = isinstance(error, GatewayUnreachable)
            if row.attempts >= MAX_ATTEMPTS:
                row.state = "failed"
            else:
                row.next_attempt_at = now + FIRST_PAUSE * 2 ** (row.attempts - 1)
        else:
            row.state, row.sent_at, row.last_error = "sent", now, None
        if row.state != "queued":
            erase(uow, row)
        action = {"sent": "notification.sent", "failed": "notification.failed"}
        audit(uow, row, action.get(row.state, "notification.retry"), now)
        uow.commit()
        if row.state == "failed":
            log.warning(
                "notification %s of case %s failed for good: %s",
                row.id,
                row.case_id,
                row.last_error,
            )
        return UNREACHABLE if unreachable and row.state == "queued" else row.state
