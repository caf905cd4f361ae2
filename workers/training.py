"""Daily access housekeeping: training reminders and old login attempts."""

from __future__ import annotations

from service.access.service import SYSTEM
from service.access.throttle import purge_attempts
from service.access.training import send_training_reminders
from workers.celery_app import app, worker_deps


@app.task(name="datasteward.training.remind")
def remind() -> int:
    return len(send_training_reminders(worker_deps(), SYSTEM))


@app.task(name="datasteward.access.purge_login_attempts")
def purge_login_attempts() -> int:
    return purge_attempts(worker_deps())
