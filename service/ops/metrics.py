"""Prometheus metrics: requests, cases, tasks, jobs and the audit chain.

Counters and histograms live in each process. Under gunicorn (and in a
prefork Celery worker) each process writes them to files in
``PROMETHEUS_MULTIPROC_DIR`` and the exposition sums them; that variable must be
set before this module is imported (the gunicorn configuration and the deploy
files do). Figures that describe the whole deployment rather than one process
(overdue tasks, age of the audit chain's head) are read from the database at
scrape time, with indexed queries that do not grow with the database.

Cases started and finished and task wait times are counted from what a
transaction actually commits (audit records and task rows it flushed), so a
rolled-back attempt or a 409 is never counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Insert, event, func, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

from service.audit.models import AuditHead, AuditRecord
from service.cases.models import Task
from service.deps import Deps

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WAIT_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "datasteward_http_requests", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "datasteward_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
CASES_STARTED = Counter("datasteward_cases_started", "Cases started", ["procedure"])
CASES_FINISHED = Counter("datasteward_cases_finished", "Cases that reached an end", ["procedure"])
TASK_WAIT = Histogram(
    "datasteward_task_wait_seconds",
    "Time from a human task being opened to its completion",
    ["procedure", "lane"],
    buckets=WAIT_BUCKETS,
)
JOBS = Counter("datasteward_jobs", "Worker jobs run, by outcome", ["task", "queue", "outcome"])
JOB_DURATION = Histogram(
    "datasteward_job_duration_seconds", "Time a worker job ran", ["task"], buckets=JOB_BUCKETS
)

_PENDING = "datasteward.metrics.pending"
AUDIT_TABLE = AuditRecord.__tablename__
CASE_ACTIONS = {"case.start": "started", "case.complete": "finished"}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def observe_job(task: str, queue: str, outcome: str, seconds: float | None) -> None:
    JOBS.labels(task, queue, outcome).inc()
    if seconds is not None:
        JOB_DURATION.labels(task).observe(seconds)


# --- counting what transactions commit ------------------------------------------------


def install_commit_counters() -> None:
    """Count cases and task waits from committed transactions (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "do_orm_execute", _on_execute)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def _on_execute(state: ORMExecuteState) -> None:
    """Audit records are appended with a Core insert: read the action from its values."""
    statement = state.statement
    if not (isinstance(statement, Insert) and statement.table.name == AUDIT_TABLE):
        return
    params = state.parameters
    rows: list[Any] = list(params) if isinstance(params, list) else [params or {}]
    for values in rows:
        _note_audit(state.session, values.get("action"), values.get("outcome"), values)


def _note_audit(session: Session, action: Any, outcome: Any, values: Any) -> None:
    kind = CASE_ACTIONS.get(action) if outcome == "done" else None
    if kind:
        session.info.setdefault(_PENDING, []).append((kind, values.get("procedure") or "unknown"))


def _after_flush(session: Session, _context: Any) -> None:
    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, AuditRecord):
            _note_audit(session, obj.action, obj.outcome, {"procedure": obj.procedure})
    for obj in session.dirty:
        if isinstance(obj, Task) and obj.status == "completed" and _just_completed(obj):
            pending.append(("wait", obj.procedure, obj.lane, _wait_seconds(obj)))


def _just_completed(task: Task) -> bool:
    return bool(inspect(task).attrs.status.history.added)


def _wait_seconds(task: Task) -> float:
    if task.completed_at is None or task.created_at is None:
        return 0.0
    return max(0.0, (_aware(task.completed_at) - _aware(task.created_at)).total_seconds())


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _after_commit(session: Session) -> None:
    for item in session.info.pop(_PENDING, []):
        if item[0] == "started":
            CASES_STARTED.labels(item[1]).inc()
        elif item[0] == "finished":
            CASES_FINISHED.labels(item[1]).inc()
        else:
            TASK_WAIT.labels(item[1], item[2]).observe(item[3])


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)


# --- figures read from the database at scrape time ------------------------------------


class DatabaseCollector(Collector):
    """Overdue tasks and the audit chain head's age, read when Prometheus scrapes."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.deps.now()
        with self.deps.unit_of_work() as uow:
            overdue = uow.session.execute(
                select(Task.procedure, Task.lane, func.count())
                .where(Task.status.in_(("open", "claimed")), Task.due_at < now)
                .group_by(Task.procedure, Task.lane)
            ).all()
            head_at = uow.session.scalar(
                select(AuditRecord.at).join(AuditHead, AuditHead.seq == AuditRecord.seq)
            )
        gauge = GaugeMetricFamily(
            "datasteward_tasks_overdue",
            "Open tasks past their due time",
            labels=["procedure", "lane"],
        )
        for procedure, lane, count in overdue:
            gauge.add_metric([procedure, lane], count)
        yield gauge
        age = GaugeMetricFamily(
            "datasteward_audit_chain_head_age_seconds",
            "Seconds since the newest audit record was appended",
        )
        age.add_metric([], (now - _aware(head_at)).total_seconds() if head_at else 0.0)
        yield age


def exposition(deps: Deps | None = None) -> bytes:
    """The text exposition: this process (or every gunicorn worker) plus database figures."""
    parts = [generate_latest(process_registry())]
    if deps is not None:
        database = CollectorRegistry(auto_describe=False)
        database.register(DatabaseCollector(deps))
        parts.append(generate_latest(database))
    return b"".join(parts)


def process_registry() -> CollectorRegistry:
    """The registry to expose: every process's files in multiprocess mode, else this one."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry
