"""Secure deletion jobs: thin Celery tasks around the vault's use cases.

The task re-fetches everything by id and calls `shred_job`, which is
idempotent and takes other pending deletions along in one batch (their own
jobs then find them done); `acks_late` plus reject-on-worker-lost mean a
worker killed at any point leaves the message to be redelivered and finished
by another worker. A job that raises is retried with backoff, and a deletion
whose job is lost anyway is finished by the beat's `resume_stalled` sweep.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from datetime import timedelta

from service.access.service import SYSTEM
from service.vault import holds, shredding
from service.vault.models import DeletionRequest
from service.vault.shredding import SHRED_JOB, shred_job
from workers.celery_app import app, worker_deps

log = logging.getLogger("datasteward.deletion")
CRASH_VARIABLE = "DATASTEWARD_TEST_CRASH_AT"


# A failing job is retried with backoff; one that still fails (or that a broker
# lost) is finished by the beat's sweep once it has stalled for STALLED_AFTER.
STALLED_AFTER = timedelta(minutes=15)
SWEEP_JOB = "datasteward.deletion.resume_stalled"


@app.task(
    name=SHRED_JOB,
    acks_late=True,
    time_limit=600,
    soft_time_limit=540,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
)
def shred(request_id: str) -> str | None:
    deps = worker_deps()
    with deps.unit_of_work() as uow:
        if uow.session.get(DeletionRequest, request_id) is None:
            log.warning("deletion request %s does not exist; nothing to do", request_id)
            return None
    certificate_id = shred_job(deps, SYSTEM, request_id, checkpoint=crash_point(deps.settings.env))
    log.info("deletion request %s: certificate %s", request_id, certificate_id or "(held)")
    return certificate_id


@app.task(name=SWEEP_JOB, acks_late=True, time_limit=600, soft_time_limit=540)
def resume_stalled() -> list[str]:
    return shredding.resume_stalled(worker_deps(), SYSTEM, STALLED_AFTER)


@app.task(name="datasteward.deletion.release_expired_holds", acks_late=True, time_limit=120)
def release_expired_holds() -> int:
    return holds.release_expired_holds(worker_deps(), SYSTEM)


def crash_point(env: str) -> Callable[[str], None]:
    """In tests only: kill this process (SIGKILL) at the named step of the deletion."""
    target = os.environ.get(CRASH_VARIABLE, "")

    def checkpoint(point: str) -> None:
        if env == "test" and target == point:
            log.warning("test crash point %s reached: killing the worker", point)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
