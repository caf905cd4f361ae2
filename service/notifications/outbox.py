"""Queueing customer notifications, each with its destination sealed under a key of its own.

A procedure tells the customer an outcome through the `notify.customer`
connector. The notification row is written in the case's transaction, and so
is its destination: the customer's mobile number, read from the vault now and
encrypted (AES-256-GCM) under a fresh key wrapped by the KEK and kept in the
key store. The delivery job (`delivery.py`) unseals it to send and then
destroys the key, so a sent, failed or expired notification keeps nothing
readable.

A deletion cannot read the number after it has happened: the subject's key
is gone. So when a deletion is approved, its confirmation is sealed ahead,
*waiting* (`hold_for_deletion`); what the case tells the customer meanwhile
(their data is held) takes the number from it, and the deletion worker sends
the confirmation in the transaction that destroys the subject's key and erases
it there (`delivery.confirm_deletions`): no readable copy of the number
outlives the subject's key. A confirmation that cannot go then does not go
later; a deletion held longer than the retention loses its confirmation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.access.service import SYSTEM
from service.audit.service import Event, record
from service.clock import iso
from service.db import UnitOfWork
from service.notifications.models import TEMPLATES, Notification
from service.vault import sealed
from service.vault import service as vault
from service.vault.keys import VaultKeys


def notify_customer(
    uow: UnitOfWork,
    keys: VaultKeys,
    subject: str,
    template: str,
    case_id: str,
    now: datetime,
) -> int:
    """Queue one notification to the case's customer; returns its id.

    One per case and template: a case that already has it (a deletion's
    confirmation, sent or not as the key was destroyed; a step run again) gets
    that one's id.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown notification template {template!r}")
    existing = uow.session.scalar(
        select(Notification.id).where(
            Notification.case_id == case_id, Notification.template == template
        )
    )
    if existing is not None:
        return existing
    waiting = _waiting_of(uow, case_id)
    if waiting is not None:
        number = unseal(uow, keys, waiting)
    elif vault.subject_status(uow, subject) == "active":
        number = vault.read_fields(uow, keys, subject, ["mobile"]).get("mobile")
    else:
        # Held data is stored and secured only (PIPL Art. 47), shredded data is gone:
        # without a number sealed before, there is nobody to send to.
        number = None
    return _queue(uow, keys, subject, template, case_id, now, number)


def notify_previous_number(
    uow: UnitOfWork, keys: VaultKeys, subject: str, case_id: str, number: str, now: datetime
) -> int:
    """Tell the number a change took off the record that it is no longer the contact.

    Against a fraudulent change (a SIM swap starts with one): the customer still
    holding the old number hears of it. The text names nobody and no new number,
    since a number given up may already be someone else's.
    """
    return _queue(uow, keys, subject, "mobile_replaced", case_id, now, number)


def _queue(
    uow: UnitOfWork,
    keys: VaultKeys,
    subject: str,
    template: str,
    case_id: str,
    now: datetime,
    number: str | None,
) -> int:
    row = _add(uow, subject, template, case_id, now, "queued" if number else "undeliverable")
    if number:
        _seal(uow, keys, row, number, now)
    else:
        row.last_error = "no contact number for this case's customer"
    audit(uow, row, "notification.queued", now)
    return row.id


def hold_for_deletion(
    uow: UnitOfWork, keys: VaultKeys, subject: str, case_id: str, now: datetime
) -> int | None:
    """Seal the deletion's confirmation now, while the subject's number can still be read.

    It waits for the deletion worker, which sends it as it destroys the subject's
    key (`delivery.confirm_deletions`). None when the subject has no number on record.
    """
    existing = _waiting_of(uow, case_id)
    if existing is not None:
        return existing.id
    if vault.subject_status(uow, subject) != "active":
        return None
    number = vault.read_fields(uow, keys, subject, ["mobile"]).get("mobile")
    if not number:
        return None
    row = _add(uow, subject, "deletion_done", case_id, now, "waiting")
    _seal(uow, keys, row, number, now)
    audit(uow, row, "notification.sealed", now)
    return row.id


def of_case(uow: UnitOfWork, case_id: str) -> list[dict[str, Any]]:
    """What the case told (or tried to tell) its customer: templates and states, no numbers."""
    rows = uow.session.scalars(
        select(Notification).where(Notification.case_id == case_id).order_by(Notification.id)
    )
    return [
        {
            "id": row.id,
            "template": row.template,
            "state": row.state,
            "created_at": iso(row.created_at),
            "sent_at": iso(row.sent_at),
            "attempts": row.attempts,
            "last_error": row.last_error,
        }
        for row in rows
    ]


def unseal(uow: UnitOfWork, keys: VaultKeys, row: Notification) -> str | None:
    """The notification's destination, or None once its key is destroyed."""
    return sealed.unseal_for_notification(uow, keys, row.id, row.destination)


def erase(uow: UnitOfWork, row: Notification) -> None:
    """Destroy the notification's key and drop its sealed destination."""
    sealed.destroy_notification_key(uow, row.id)
    row.destination = None


def _add(
    uow: UnitOfWork, subject: str, template: str, case_id: str, now: datetime, state: str
) -> Notification:
    row = Notification(
        subject=subject,
        template=template,
        case_id=case_id,
        created_at=now,
        state=state,
        attempts=0,
        next_attempt_at=now if state == "queued" else None,
    )
    uow.session.add(row)
    uow.session.flush()  # the id binds the ciphertext and names the key
    return row


def _seal(uow: UnitOfWork, keys: VaultKeys, row: Notification, number: str, now: datetime) -> None:
    row.destination = sealed.seal_for_notification(uow, keys, row.id, number, now)


def _waiting_of(uow: UnitOfWork, case_id: str) -> Notification | None:
    return uow.session.scalar(
        select(Notification)
        .where(Notification.case_id == case_id, Notification.state == "waiting")
        .order_by(Notification.id)
        .limit(1)
    )


def audit(uow: UnitOfWork, row: Notification, action: str, now: datetime) -> None:
    """One step of a notification's life, in the audit trail: never its number or text."""
    detail: dict[str, Any] = {
        "notification_id": row.id,
        "template": row.template,
        "state": row.state,
        "attempts": row.attempts,
    }
    if row.last_error:
        detail["error"] = row.last_error
    outcome = "failed" if action in ("notification.failed", "notification.retry") else "done"
    event = Event(
        action=action, outcome=outcome, case_id=row.case_id, subject=row.subject, detail=detail
    )
    record(uow.session, SYSTEM, event, now)
