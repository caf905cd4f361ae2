"""The customer notifications table: what to tell whom (sealed), and how delivery went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

TEMPLATES = frozenset(
    {
        "change_applied",
        "change_rejected",
        "deletion_done",
        "deletion_held",
        "deletion_refused",
        "mobile_replaced",
    }
)
# queued: due for delivery from next_attempt_at; waiting: sealed ahead of an event (a
# deletion's confirmation, before the subject's key is destroyed) and released by it;
# sent / failed (gave up) / expired (never released or delivered in time): done, the
# destination erased; undeliverable: the case had no contact to send to.
STATES = ("queued", "waiting", "sent", "failed", "expired", "undeliverable")
UNSENT_STATES = ("queued", "waiting")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The delivery job's queue, oldest due first (migration 0015_notification_delivery).
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("state = 'queued'"),
            sqlite_where=text("state = 'queued'"),
        ),
        Index("ix_notifications_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    template: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), server_default="queued")
    # The customer's mobile number, AES-GCM under the notification's own key
    # (service/vault/sealed.py); NULL once the notification is done.
    destination: Mapped[bytes | None] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the last attempt failed: a status code or error kind, never the gateway's text.
    last_error: Mapped[str | None] = mapped_column(String(200))
