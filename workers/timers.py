"""Periodic jobs: due timers and the outbox relay."""

from __future__ import annotations

from service.access.service import SYSTEM
from service.cases.service import fire_due_timers
from service.jobs import relay
from workers.celery_app import app, worker_deps


@app.task(name="datasteward.timers.fire_due")
def fire_due() -> int:
    return fire_due_timers(worker_deps(), SYSTEM)


@app.task(name="datasteward.outbox.relay")
def relay_outbox() -> int:
    deps = worker_deps()
    if deps.publish is None:
        return 0
    # Jobs younger than a few seconds are normally published right after their
    # commit; the relay is for the ones a broker outage left behind.
    return relay(deps.db, deps.publish, deps.now(), min_age_s=5)
