"""Records join their transaction: appended, in order, as it commits; gone if it rolls back."""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditHead, AuditRecord
from service.audit.service import Event, record, record_many
from service.audit.verify import verify_live
from tests.integration.audit.audit_helpers import CLERK


def actions(deps) -> list[tuple[int, str]]:
    with deps.unit_of_work() as uow:
        return [
            (r.seq, r.action)
            for r in uow.session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
        ]


def test_a_transactions_records_are_appended_in_the_order_made_as_it_commits(deps) -> None:
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="first"), deps.now())
        record_many(uow.session, CLERK, [Event(action="second"), Event(action="third")], deps.now())
        record(uow.session, CLERK, Event(action="fourth"), deps.now())
        # Nothing is written, and the chain head is not held, before the commit.
        assert uow.session.scalar(select(AuditRecord.seq)) is None
        uow.commit()
    assert actions(deps) == [(1, "first"), (2, "second"), (3, "third"), (4, "fourth")]
    with deps.unit_of_work() as uow:
        assert uow.session.scalar(select(AuditHead.seq)) == 4
    assert verify_live(deps).ok


def test_a_rolled_back_transaction_leaves_no_record_and_the_next_one_continues(deps) -> None:
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="kept"), deps.now())
        uow.commit()
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="dropped"), deps.now())
        uow.rollback()
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="dropped too"), deps.now())
        # Leaving the block without a commit rolls back.
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="next"), deps.now())
        uow.commit()
    assert actions(deps) == [(1, "kept"), (2, "next")]
    assert verify_live(deps).ok


def test_a_transaction_with_many_records_verifies(deps) -> None:
    events = [Event(action=f"step-{n}", detail={"n": n}) for n in range(12)]
    with deps.unit_of_work() as uow:
        record_many(uow.session, CLERK, events, deps.now())
        uow.commit()
    with deps.unit_of_work() as uow:
        record(uow.session, CLERK, Event(action="after"), deps.now())
        uow.commit()
    assert [action for _, action in actions(deps)] == [e.action for e in events] + ["after"]
    assert verify_live(deps).ok
