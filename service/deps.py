"""The collaborators every use case receives, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.cases.deadlines import WorkingCalendar
from service.clock import Clock, utcnow
from service.config import Settings
from service.db import Database, UnitOfWork
from service.engine import Engine
from service.jobs import Publisher
from service.vault.keys import VaultKeys


@dataclass
class Deps:
    settings: Settings
    db: Database
    engine: Engine
    keys: VaultKeys
    clock: Clock = utcnow
    publish: Publisher | None = None
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def unit_of_work(self) -> UnitOfWork:
        return self.db.unit_of_work()


@dataclass
class ConnectorContext:
    """What a connector sees while a case advances: the same transaction and clock."""

    uow: UnitOfWork
    deps: Deps
    case_id: str
    subject: str | None
    now: datetime
    actor: Any = None
    """The person whose step set the case moving (an Actor); None for the system."""
