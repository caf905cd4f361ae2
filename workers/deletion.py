"""Secure deletion jobs: thin Celery tasks around the vault's use cases.

The task re-fetches everything by id and calls `shred_subject`, which is
idempotent; `acks_late` plus reject-on-worker-lost mean a worker killed at any
point leaves the message to be redelivered and finished by another worker.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from service.access.service import SYSTEM
from service.vault import holds
from service.vault.models import DeletionRequest
from service.vault.shredding import SHRED_JOB, shred_subject
from workers.celery_app import app, worker_deps

log = logging.getLogger("datasteward.deletion")
CRASH_VARIABLE = "DATASTEWARD_TEST_CRASH_AT"


@app.task(name=SHRED_JOB, acks_late=True, time_limit=600, soft_time_limit=540)
def shred(request_id: str) -> str | None:
    deps = worker_deps()
    with deps.unit_of_work() as uow:
        request = uow.session.get(DeletionRequest, request_id)
        if request is None:
            log.warning("deletion request %s does not exist; nothing to do", request_id)
            return None
        subject, case_id = request.subject, request.case_id
    certificate_id = shred_subject(
        deps, SYSTEM, subject, case_id, request_id, checkpoint=crash_point(deps.settings.env)
    )
    log.info("deletion request %s: certificate %s", request_id, certificate_id or "(held)")
    return certificate_id


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
