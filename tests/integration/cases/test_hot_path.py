"""The case/task hot path stays cheap: few statements, flat as data grows, indexed lists."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.attributes import set_committed_value

from service.access.models import User
from service.access.service import Actor, roles_of
from service.audit.service import HEAD_READ
from service.audit.verify import verify_live
from service.bench.flows import APPROVE, CONSENT, subscriber_form, task_named
from service.cases import service as cases
from service.cases import writes
from service.cases.models import Task
from service.cases.tasks import list_tasks
from service.deps import Deps
from service.errors import Conflict, Invalid


def _actor(deps: Deps, user_id: int, name: str) -> Actor:
    with deps.unit_of_work() as uow:
        return Actor(user_id, name, roles_of(uow.session, user_id))


@contextmanager
def _statements(deps: Deps) -> Iterator[list[str]]:
    """Every SQL statement the data database runs meanwhile, whitespace-normalised."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(deps.db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(deps.db.engine, "before_cursor_execute", listen)


def _collection(deps: Deps, desk: Actor, reviewer: Actor) -> list[list[str]]:
    """One collection case; the statements of each of its three completions."""
    steps: list[list[str]] = []

    def step(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with _statements(deps) as seen:
            summary = run()
        steps.append(seen)
        return summary

    case = cases.start_case(deps, desk, "collection")
    case = step(
        lambda: cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    )
    form = subscriber_form()
    case = step(lambda: cases.complete_task(deps, desk, task_named(case, "fill_form"), form))
    case = step(lambda: cases.complete_task(deps, reviewer, task_named(case, "review"), APPROVE))
    assert case["status"] == "completed"
    return steps


def test_each_completion_writes_its_case_row_once_and_costs_the_same_as_the_database_grows(
    deps, users
):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    reviewer = _actor(deps, users["reviewer"], "reviewer")
    _collection(deps, desk, reviewer)  # the process's first case reads its version's content
    first = _collection(deps, desk, reviewer)
    for _ in range(3):
        _collection(deps, desk, reviewer)
    later = _collection(deps, desk, reviewer)
    for statements in first + later:
        # State, lock version and the end in one UPDATE, and no ORM flush of the
        # same row after it (the vault may write the subject it just created).
        case_writes = [s for s in statements if "UPDATE cases" in s]
        assert len([s for s in case_writes if "lock_version" in s]) == 1, case_writes
        assert all(s.startswith("UPDATE cases SET subject=") for s in case_writes[:-1])
        assert "lock_version" in case_writes[-1], case_writes
        task_reads = [s for s in statements if s.startswith("SELECT tasks.id, tasks.case_id")]
        assert len(task_reads) == 1, task_reads
    # Nothing on the path reads more as finished cases pile up.
    assert [len(s) for s in later] == [len(s) for s in first]


def test_a_step_writes_its_case_and_tasks_and_takes_the_audit_head_in_one_statement_on_postgresql(
    deps, users
):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    reviewer = _actor(deps, users["reviewer"], "reviewer")
    consent, form, review = _collection(deps, desk, reviewer)
    postgres = deps.db.engine.dialect.name == "postgresql"
    for statements in (consent, form):
        head_locks = [s for s in statements if s.startswith("SELECT audit_head")]
        combined = [s for s in statements if s.startswith("WITH written_case AS (UPDATE cases")]
        if postgres:
            # The case's state, the completed task, the next task, the head: one statement.
            assert head_locks == [], statements
            assert len(combined) == 1, statements
            assert "UPDATE tasks" in combined[0] and "INSERT INTO tasks" in combined[0]
            assert "FROM audit_head" in combined[0] and "FOR UPDATE" in combined[0]
            assert not [
                s for s in statements if s.startswith(("UPDATE tasks", "INSERT INTO tasks"))
            ]
        else:
            # No data-modifying CTEs: separate statements, the head locked at commit.
            assert len(head_locks) == 1 and combined == [], statements
    # The review ends the case, which is closed after its last write: the head is left to
    # the commit, so it is still the last lock the transaction takes.
    assert len([s for s in review if s.startswith("SELECT audit_head")]) == 1, review
    # The records appended from the head read in the write statement chain as any others.
    assert verify_live(deps).ok


def test_a_step_readying_more_tasks_than_one_statement_takes_writes_them_separately(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    now = deps.now()
    template = {
        "case_id": case["id"],
        "procedure": "collection",
        "spec_name": "fill_form",
        "label": "Fill in the form",
        "lane": "front_desk",
        "form": None,
        "status": "open",
        "assignee_id": None,
        "created_at": now,
        "due_at": None,
        "completed_at": None,
        "completed_by": None,
    }
    new = [template | {"id": str(uuid.uuid4())} for _ in range(writes._COMBINED_MOST_NEW + 1)]
    with deps.unit_of_work() as uow:
        stored = uow.session.get_one(cases.Case, case["id"])
        saved = {name: getattr(stored, name) for name in writes.SAVED_COLUMNS}
        step = writes.StepWrites(
            case["id"],
            saved | {"lock_version": stored.lock_version + 1},
            expected_version=stored.lock_version,
            done_task=task_named(case, "record_consent"),
            done={
                "status": "completed",
                "assignee_id": desk.id,
                "completed_at": now,
                "completed_by": desk.id,
            },
            new_tasks=new,
            lock_head=True,
        )
        writes.write_step(uow.session, step)
        # Written as separate statements: the head is left to the commit's append.
        assert HEAD_READ not in uow.session.info
        uow.commit()
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Task.spec_name, Task.status).where(Task.case_id == case["id"])
        ).all()
    assert sorted(rows) == [("fill_form", "open")] * len(new) + [("record_consent", "completed")]


def test_a_step_that_finds_its_case_moved_on_writes_nothing(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    task_id = task_named(case, "record_consent")
    real_save = cases._saved_values

    def stale(case_row: Any, *args: Any) -> dict[str, Any]:
        # As if another writer had moved the case on since it was read: the write
        # expects a lock version the row no longer has.
        saved = real_save(case_row, *args)
        set_committed_value(case_row, "lock_version", case_row.lock_version - 1)
        return saved

    cases._saved_values = stale
    try:
        with pytest.raises(Conflict):
            cases.complete_task(deps, desk, task_id, CONSENT)
    finally:
        cases._saved_values = real_save
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Task.spec_name, Task.status).where(Task.case_id == case["id"])
        ).all()
    # The completed task, the next task and the audit record went with the conflict.
    assert rows == [("record_consent", "open")]
    assert verify_live(deps).ok


def test_the_summary_after_a_step_lists_exactly_the_open_tasks(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    assert [t["name"] for t in case["tasks"]] == ["record_consent"]
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    assert [(t["name"], t["status"]) for t in case["tasks"]] == [("fill_form", "open")]
    with deps.unit_of_work() as uow:
        assert case == cases.case_summary(uow.session, uow.session.get_one(cases.Case, case["id"]))


def test_every_task_list_scope_pages_through_the_merged_queue_in_order(deps, users):
    both = _actor(deps, users["allrounder"], "allrounder")
    for _ in range(4):
        cases.start_case(deps, both, "collection")
    with deps.unit_of_work() as uow:
        open_ids = [t["id"] for t in list_tasks(uow.session, both, scope="claimable", limit=10)]
    assert len(open_ids) == 4
    cases.claim_task(deps, both, open_ids[1])
    cases.claim_task(deps, both, open_ids[3])
    with deps.unit_of_work() as uow:
        whole = list_tasks(uow.session, both, scope="all", limit=10)
        mine = list_tasks(uow.session, both, scope="mine", limit=10)
        claimable = list_tasks(uow.session, both, scope="claimable", limit=10)
        pages = [
            list_tasks(uow.session, both, scope="all", limit=2, offset=offset) for offset in (0, 2)
        ]
    assert sorted(t["id"] for t in whole) == sorted(open_ids)
    assert {t["id"] for t in mine} == {open_ids[1], open_ids[3]}
    assert {t["id"] for t in claimable} == {open_ids[0], open_ids[2]}
    order = [(t["due_at"] is None, t["due_at"], t["created_at"]) for t in whole]
    assert order == sorted(order, key=lambda k: (k[0], k[1] or "", k[2]))
    assert pages[0] + pages[1] == whole


def test_the_claimable_list_reads_the_queue_index_in_order(deps, users):
    reviewer = _actor(deps, users["reviewer"], "reviewer")
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    cases.complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())
    with deps.unit_of_work() as uow:
        plan = _plan(deps, uow, lambda s: list_tasks(s, reviewer, scope="claimable", limit=50))
    assert "ix_tasks_queue" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def _claimable(actor: Actor, after: str, session: Any) -> list[dict[str, Any]]:
    return list_tasks(session, actor, scope="claimable", after=after)


def _plan(deps: Deps, uow: Any, run: Callable[[Any], Any]) -> str:
    """The database's plan for the last statement `run` makes on the session."""
    conn = uow.session.connection()
    if deps.db.is_postgres:  # a handful of rows: make the planner show the plan a big queue gets
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    captured: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        captured.append((statement, parameters))

    event.listen(deps.db.engine, "before_cursor_execute", listen)
    try:
        assert run(uow.session)
    finally:
        event.remove(deps.db.engine, "before_cursor_execute", listen)
    statement, parameters = captured[-1]
    explain = "EXPLAIN " if deps.db.is_postgres else "EXPLAIN QUERY PLAN "
    rows = conn.exec_driver_sql(explain + statement, parameters).all()
    return " | ".join(" ".join(str(c) for c in row) for row in rows)


def test_a_read_only_unit_of_work_neither_waits_for_nor_blocks_a_writer(deps, users):
    with deps.unit_of_work() as writer:
        writer.session.execute(
            update(User).where(User.id == users["reviewer"]).values(display_name="renamed")
        )
        # The writer holds its transaction (on SQLite: the write lock) open meanwhile.
        with deps.db.read_unit_of_work() as reader:
            name = reader.session.scalar(
                select(User.display_name).where(User.id == users["reviewer"])
            )
            reader.commit()
        writer.commit()
    assert name == "reviewer"
    with deps.db.read_unit_of_work() as reader:
        try:  # PostgreSQL refuses the write; SQLite's commit rolls it back
            reader.session.execute(
                update(User).where(User.id == users["reviewer"]).values(display_name="lost")
            )
        except DBAPIError:
            assert deps.db.is_postgres
        reader.commit()
    with deps.unit_of_work() as uow:
        assert (
            uow.session.scalar(select(User.display_name).where(User.id == users["reviewer"]))
            == "renamed"
        )


def test_paging_after_a_task_walks_the_queue_once_ties_and_due_dates_included(deps, users):
    both = _actor(deps, users["allrounder"], "allrounder")
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    for _ in range(7):  # the test clock stands still: every task is created at the same time
        cases.start_case(deps, desk, "collection")
    with deps.unit_of_work() as uow:
        ids = sorted(uow.session.scalars(select(Task.id).where(Task.status == "open")))
        soon = deps.now() + timedelta(days=2)
        due = {ids[0]: soon, ids[1]: soon, ids[5]: soon - timedelta(days=1)}
        for task_id, at in due.items():
            uow.session.execute(update(Task).where(Task.id == task_id).values(due_at=at))
        uow.commit()
    cases.claim_task(deps, both, ids[3])
    queue = sorted(ids, key=lambda i: (i not in due, due.get(i, soon), i))
    expected = {
        (desk, "claimable"): [i for i in queue if i != ids[3]],  # one role: one query
        (both, "claimable"): [i for i in queue if i != ids[3]],  # a query per role, merged
        (both, "all"): queue,  # and the claimed one
    }
    for (actor, scope), order in expected.items():
        with deps.unit_of_work() as uow:
            whole = [t["id"] for t in list_tasks(uow.session, actor, scope=scope, limit=100)]
            walked: list[str] = []
            after = None
            while page := list_tasks(uow.session, actor, scope=scope, limit=2, after=after):
                walked += [t["id"] for t in page]
                after = page[-1]["id"]
        assert whole == order, (actor.username, scope)
        assert walked == order, (actor.username, scope)


def test_paging_after_an_unknown_task_is_refused(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    with deps.unit_of_work() as uow, pytest.raises(Invalid) as refused:
        list_tasks(uow.session, desk, scope="all", after="00000000-0000-4000-8000-000000000000")
    assert refused.value.details == [{"field": "after", "reason": "no task has this id"}]


def test_a_page_after_a_task_seeks_to_it_in_the_queue_index(deps, users):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    for _ in range(3):
        cases.start_case(deps, desk, "collection")
    with deps.unit_of_work() as uow:
        first = list_tasks(uow.session, desk, scope="claimable", limit=1)[0]["id"]
        uow.session.execute(update(Task).where(Task.id == first).values(due_at=deps.now()))
        uow.commit()
    for dated in (True, False):  # an anchor with a due date, and one without
        with deps.unit_of_work() as uow:
            queue = list_tasks(uow.session, desk, scope="claimable", limit=2)
            after = queue[0 if dated else 1]["id"]
            plan = _plan(deps, uow, functools.partial(_claimable, desk, after))
        assert "ix_tasks_queue" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        if deps.db.is_postgres:  # the anchor bounds the index scan: no filter after it
            assert "Index Cond" in plan and "ROW(" in plan and "Filter" not in plan, plan
