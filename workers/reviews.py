"""Periodic procedure review: start the reviews whose schedule is due (daily beat job).

How often a procedure is reviewed is its schedule's interval (quarterly by
default, DATASTEWARD_REVIEW_INTERVAL_MONTHS); the job only checks what is due.
"""

from __future__ import annotations

from service.access.service import SYSTEM
from service.definitions.review import start_due_reviews
from workers.celery_app import app, worker_deps


@app.task(name="datasteward.reviews.start_due")
def start_due() -> list[str]:
    return start_due_reviews(worker_deps(), SYSTEM)
