"""Filling the audit log and tampering with it as an attacker with database access would."""

from __future__ import annotations

from sqlalchemy import text

from service.access.service import Actor
from service.audit.service import Event, record
from service.deps import Deps
from service.signing import load_signing_key

CLERK = Actor(7, "frontdesk", frozenset({"front_desk"}), "req-1", "10.0.0.7")


def fill_log(deps: Deps, count: int, *, hours_apart: float = 0.0) -> None:
    """Append ``count`` records the way use cases do, one transaction each."""
    load_signing_key(deps.settings, create=True)
    for number in range(count):
        with deps.unit_of_work() as uow:
            record(
                uow.session,
                CLERK,
                Event(
                    action="task.complete",
                    procedure="collection",
                    case_id=f"case-{number:04d}",
                    subject=f"psn-{number % 7}",
                    fields=["mobile", "address"],
                    purpose="service_contract",
                ),
                deps.now(),
            )
            uow.commit()
        if hours_apart:
            deps.clock.advance(hours=hours_apart)  # type: ignore[attr-defined]


def tamper(deps: Deps, *statements: str) -> None:
    """Run SQL behind the service's back; on PostgreSQL with triggers switched off.

    ``session_replication_role = replica`` needs superuser: this is the
    attacker the hash chain and checkpoints exist for.
    """
    with deps.db.engine.begin() as conn:
        if deps.db.is_postgres:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(text(statement))
