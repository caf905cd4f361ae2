"""Customer notifications: the default channel writes to an outbox table.

A notification row names the subject (by pseudonym), the template and the
case; a delivery adapter (SMS gateway, letters) reads the contact details
through the vault when it sends, so no personal data waits in the outbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UnitOfWork

TEMPLATES = frozenset(
    {
        "change_applied",
        "change_rejected",
        "deletion_done",
        "deletion_held",
        "deletion_refused",
    }
)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_unsent", "sent_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    template: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def notify_customer(
    uow: UnitOfWork, subject: str, template: str, case_id: str, now: datetime
) -> int:
    if template not in TEMPLATES:
        raise ValueError(f"unknown notification template {template!r}")
    row = Notification(subject=subject, template=template, case_id=case_id, created_at=now)
    uow.session.add(row)
    uow.session.flush()
    return row.id
