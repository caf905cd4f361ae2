"""Audit jobs: periodic signed checkpoints and the daily archiving run.

Thin on purpose: each task re-reads everything it needs from the database and
calls the use case, which is idempotent and resumes a segment a killed worker
left half-done.
"""

from __future__ import annotations

from typing import Any

from service.audit.archiving import run_archiving
from service.audit.checkpoints import make_checkpoint
from workers.celery_app import app, worker_deps


@app.task(name="datasteward.audit.checkpoint")
def checkpoint() -> int | None:
    made = make_checkpoint(worker_deps())
    return None if made is None else int(made["tree_size"])


@app.task(name="datasteward.audit.archive", time_limit=3600, soft_time_limit=3300)
def archive() -> dict[str, Any]:
    return run_archiving(worker_deps())
