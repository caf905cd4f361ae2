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
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from service.audit.models import AuditHead, AuditRecord
from service.audit.service import APPENDED
from service.cases.models import Task
from service.cases.tasks import COMPLETED_TASKS
from service.deps import Deps
from service.notifications.models import UNSENT_STATES, Notification

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
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    for action, outcome, procedure in session.info.pop(APPENDED, []):
        kind = CASE_ACTIONS.get(action) if outcome == "done" else None
        if kind == "started":
            CASES_STARTED.labels(procedure or "unknown").inc()
        elif kind == "finished":
            CASES_FINISHED.labels(procedure or "unknown").inc()
    for procedure, lane, seconds in session.info.pop(COMPLETED_TASKS, []):
        TASK_WAIT.labels(procedure, lane).observe(seconds)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(COMPLETED_TASKS, None)
    session.info.pop(APPENDED, None)


# --- figures read from the database at scrape time ------------------------------------


class DatabaseCollector(Collector):
    """Overdue tasks, the audit chain head's age and unsent notifications, read at scrape time."""

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
            unsent = uow.session.execute(
                select(Notification.state, func.count(), func.min(Notification.created_at))
                .where(Notification.state.in_(UNSENT_STATES))
                .group_by(Notification.state)
            ).all()
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
        # A gateway that stopped taking messages shows as a growing queue and an old head.
        pending = GaugeMetricFamily(
            "datasteward_notifications_unsent",
            "Customer notifications not yet sent: queued, or waiting for a deletion",
            labels=["state"],
        )
        oldest = GaugeMetricFamily(
            "datasteward_notifications_oldest_unsent_seconds",
            "Age of the oldest customer notification not yet sent",
            labels=["state"],
        )
        found = {state: (count, first) for state, count, first in unsent}
        for state in UNSENT_STATES:
            count, first = found.get(state, (0, None))
            pending.add_metric([state], count)
            oldest.add_metric([state], (now - _aware(first)).total_seconds() if first else 0.0)
        yield pending
        yield oldest


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
