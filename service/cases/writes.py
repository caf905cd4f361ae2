"""A step's writes: the case row, its task mirror and, on PostgreSQL, the audit head lock.

A step of a case ends with the same few writes: the case row (its new
state, lock version and, if it ended, its end), the task just completed, the
newly ready tasks, the open tasks the engine no longer has ready; then, at
commit, the audit append locks the chain head. On PostgreSQL these go as one
statement -- each write a data-modifying CTE, and the statement's own SELECT
locks and reads the head -- so a step pays one round trip and one
statement's overhead for them instead of four. SQLite has no data-modifying
CTEs: there the writes are separate statements and the head is locked at
commit, as for any transaction.

The head is locked here only when the caller asks (``lock_head``): it must
write nothing else before its COMMIT but the audit append, which then takes
the head as read here instead of locking it again. So the head stays the
last lock a transaction takes, and it is held no longer than before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, Select, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service.audit.models import AuditHead
from service.audit.service import HEAD_ID, head_read
from service.cases.models import Case, Task
from service.errors import Conflict

_CASES: Table = Case.__table__  # type: ignore[assignment]
_TASKS: Table = Task.__table__  # type: ignore[assignment]
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]

# Separate statements (SQLite, and PostgreSQL past the combined statement's sizes).
# SET columns come from the parameters' keys (bound parameters prefixed "_" are the WHERE).
_INSERT_CASE = insert(_CASES)
_SAVE_CASE = update(_CASES).where(
    _CASES.c.id == bindparam("_id"), _CASES.c.lock_version == bindparam("_expected")
)
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("_id"))
_UPDATE_TASKS = update(_TASKS).where(_TASKS.c.id.in_(bindparam("_ids", expanding=True)))
_INSERT_TASKS = insert(_TASKS)

# The case columns a step sets: every one always, so one statement shape serves all steps.
SAVED_COLUMNS = (
    "state",
    "next_timer_at",
    "updated_at",
    "lock_version",
    "subject",
    "status",
    "outcome",
    "completed_at",
)
_DONE_COLUMNS = ("status", "assignee_id", "completed_at", "completed_by")
_TASK_COLUMNS = [column.key for column in _TASKS.columns]
_CASE_COLUMNS = [column.key for column in _CASES.columns]
# A step readies a few tasks at most; more go as separate statements.
_COMBINED_MOST_NEW = 4


@dataclass
class StepWrites:
    """What one step writes; the case either inserted (a start) or updated (a step)."""

    case_id: str
    case: dict[str, Any]  # the inserted row, or the SAVED_COLUMNS values of the update
    expected_version: int | None = None  # None: insert the case
    done_task: str | None = None
    done: dict[str, Any] = field(default_factory=dict)  # _DONE_COLUMNS values
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    gone_at: Any = None
    # Also lock and read the audit head: only when the transaction writes nothing
    # more before its COMMIT but the audit append. A step that ends its case still
    # closes it (drafts, documents) and so leaves the head to the commit.
    lock_head: bool = False


def write_step(session: Session, writes: StepWrites) -> None:
    """Write the step; Conflict if the case changed since it was read.

    On Conflict the caller's transaction must roll back: on PostgreSQL the
    other writes of the statement have run by then.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql" and len(writes.new_tasks) <= _COMBINED_MOST_NEW:
        _write_combined(session, connection, writes)
        return
    if writes.expected_version is None:
        connection.execute(_INSERT_CASE, writes.case)
    else:
        _check_saved(
            connection.execute(
                _SAVE_CASE,
                {**writes.case, "_id": writes.case_id, "_expected": writes.expected_version},
            ).rowcount,
            writes.case_id,
        )
    if writes.done_task is not None:
        connection.execute(_UPDATE_TASK, {**writes.done, "_id": writes.done_task})
    if writes.new_tasks:
        connection.execute(_INSERT_TASKS, writes.new_tasks)
    if writes.gone:
        connection.execute(
            _UPDATE_TASKS,
            {"_ids": writes.gone, "status": "cancelled", "completed_at": writes.gone_at},
        )


def update_task(session: Session, task_id: str, values: dict[str, Any]) -> None:
    """Set some columns of one task row."""
    session.connection().execute(_UPDATE_TASK, {**values, "_id": task_id})


def _check_saved(rowcount: int, case_id: str) -> None:
    if rowcount != 1:
        raise Conflict(f"case {case_id} was changed by someone else; reload and try again")


def _write_combined(session: Session, connection: Connection, writes: StepWrites) -> None:
    shape = (
        writes.expected_version is None,
        writes.done_task is not None,
        len(writes.new_tasks),
        bool(writes.gone),
        writes.lock_head,
    )
    if writes.expected_version is None:
        parameters = {f"c_{name}": writes.case[name] for name in _CASE_COLUMNS}
    else:
        parameters = {f"c_{name}": writes.case[name] for name in SAVED_COLUMNS}
        parameters |= {"_case_id": writes.case_id, "_expected": writes.expected_version}
    if writes.done_task is not None:
        parameters["_done_id"] = writes.done_task
        parameters |= {f"d_{name}": writes.done[name] for name in _DONE_COLUMNS}
    for index, task in enumerate(writes.new_tasks):
        parameters |= {f"t{index}_{name}": task[name] for name in _TASK_COLUMNS}
    if writes.gone:
        parameters["_gone"] = writes.gone
        parameters["_gone_at"] = writes.gone_at
    row = connection.execute(_combined(shape), parameters).one()
    _check_saved(row[0], writes.case_id)
    if writes.lock_head and row[1] is not None:
        head_read(session, row[1], bytes(row[2]))


_COMBINED: dict[tuple[bool, bool, int, bool, bool], Select[Any]] = {}


def _combined(shape: tuple[bool, bool, int, bool, bool]) -> Select[Any]:
    """The statement for one shape of step, built once: CTEs for the writes, SELECT for the rest.

    It returns the number of case rows written (1, or 0 when the lock
    version moved on) and, when asked, the locked head's seq and hash.
    """
    statement = _COMBINED.get(shape)
    if statement is not None:
        return statement
    inserts_case, completes_task, new_tasks, cancels, lock_head = shape
    written: Insert | Update
    if inserts_case:
        written = insert(_CASES).values(
            {name: bindparam(f"c_{name}", type_=_CASES.c[name].type) for name in _CASE_COLUMNS}
        )
    else:
        written = (
            update(_CASES)
            .where(
                _CASES.c.id == bindparam("_case_id"),
                _CASES.c.lock_version == bindparam("_expected"),
            )
            .values(
                {name: bindparam(f"c_{name}", type_=_CASES.c[name].type) for name in SAVED_COLUMNS}
            )
        )
    case_cte = written.returning(_CASES.c.id).cte("written_case")
    ctes = [case_cte]
    if completes_task:
        done = (
            update(_TASKS)
            .where(_TASKS.c.id == bindparam("_done_id"))
            .values(
                {name: bindparam(f"d_{name}", type_=_TASKS.c[name].type) for name in _DONE_COLUMNS}
            )
        )
        ctes.append(done.cte("done_task"))
    for index in range(new_tasks):
        row = insert(_TASKS).values(
            {
                name: bindparam(f"t{index}_{name}", type_=_TASKS.c[name].type)
                for name in _TASK_COLUMNS
            }
        )
        ctes.append(row.cte(f"new_task_{index}"))
    if cancels:
        gone = (
            update(_TASKS)
            .where(_TASKS.c.id.in_(bindparam("_gone", expanding=True)))
            .values(status="cancelled", completed_at=bindparam("_gone_at"))
        )
        ctes.append(gone.cte("gone_tasks"))
    columns: list[Any] = [select(func.count()).select_from(case_cte).scalar_subquery()]
    if lock_head:
        head = (
            select(_HEAD.c.seq, _HEAD.c.hash)
            .where(_HEAD.c.id == HEAD_ID)
            .with_for_update()
            .cte("head")
        )
        columns += [select(head.c.seq).scalar_subquery(), select(head.c.hash).scalar_subquery()]
    statement = _COMBINED[shape] = select(*columns).add_cte(*ctes)
    return statement
