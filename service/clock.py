"""Time, injected: use cases take a `Clock` so deadlines are testable without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything Datasteward stores is UTC."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """An ISO 8601 string with the UTC offset, whatever the database handed back."""
    return aware(moment).isoformat() if moment is not None else None
