"""Consent records (PIPL Art. 14, 29): per purpose, with the consent text's version.

Consent to process the ID number (sensitive personal information) is recorded
separately from consent to the collection itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Table, insert
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UnitOfWork


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(ForeignKey("subjects.pseudonym", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    text_version: Mapped[str] = mapped_column(String(32))
    sensitive: Mapped[bool]
    case_id: Mapped[str] = mapped_column(String(36))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def record_consents(
    uow: UnitOfWork,
    *,
    subject: str,
    purpose: str,
    text_version: str,
    sensitive: bool,
    case_id: str,
    now: datetime,
) -> None:
    """One record for the collection itself and, with ``sensitive``, one for the ID number.

    A Core INSERT: the records are written now, not at the next flush.
    """
    rows = [
        {
            "subject": subject,
            "purpose": purpose,
            "text_version": text_version,
            "sensitive": flag,
            "case_id": case_id,
            "given_at": now,
        }
        for flag in ((False, True) if sensitive else (False,))
    ]
    uow.session.connection().execute(insert(_CONSENTS), rows)


_CONSENTS: Table = Consent.__table__  # type: ignore[assignment]
