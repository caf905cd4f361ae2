"""Which Celery queue each job goes to, by task-name prefix.

Jobs are split by kind so that a flood of one kind cannot starve another: a
mass deletion campaign must not delay the timers that escalate overdue tasks,
and an archiving backlog must not hold up cases waiting on the engine. Each
queue can get its own workers (``celery worker -Q deletion``).
"""

from __future__ import annotations

from typing import Any

DELETION, ARCHIVING, TIMERS, ENGINE = "deletion", "archiving", "timers", "engine"
QUEUES = (ENGINE, TIMERS, DELETION, ARCHIVING)
DEFAULT_QUEUE = ENGINE

# First matching prefix wins; anything else runs on the engine queue.
PREFIX_ROUTES: tuple[tuple[str, str], ...] = (
    ("datasteward.deletion.", DELETION),
    ("datasteward.audit.", ARCHIVING),
    ("datasteward.archiving.", ARCHIVING),
    ("datasteward.timers.", TIMERS),
    ("datasteward.outbox.", TIMERS),
    ("datasteward.notifications.", TIMERS),
)


def queue_for(task_name: str) -> str:
    """The queue a job named ``task_name`` is published to."""
    for prefix, queue in PREFIX_ROUTES:
        if task_name.startswith(prefix):
            return queue
    return DEFAULT_QUEUE


def route_task(name: str, _args: Any, _kwargs: Any, _options: Any, **_: Any) -> dict[str, str]:
    """A Celery router (``task_routes``) applying `queue_for`."""
    return {"queue": queue_for(name)}
