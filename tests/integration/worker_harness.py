"""A real Celery worker (and beat, when asked) as a separate process for a test.

The worker is configured only through its environment, built from the test's
``Settings``; the broker is either the embedded SQLite one under ``var_dir`` or
the test Redis database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import redis
from sqlalchemy import select

from service.config import Settings
from service.deps import Deps
from service.jobs import celery_publisher
from service.vault.models import DeletionRequest
from tests.conftest import REDIS_URL, ROOT

DELETION_QUEUES = ("celery", "deletion")


def embedded_broker_url(settings: Settings) -> str:
    """The SQLite broker under the test's ``var_dir`` (no server needed)."""
    return f"sqla+sqlite:///{Path(settings.var_dir) / 'broker.sqlite'}"


def worker_environment(
    settings: Settings, broker_url: str, *, crash_at: str = "", **extra: str
) -> dict[str, str]:
    """The worker's environment: the settings' locations, the broker, nothing inherited.

    ``crash_at`` names a test crash point at which the deletion job kills its
    worker; ``extra`` adds or overrides ``DATASTEWARD_*`` variables.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTEWARD_")}
    env.update(
        DATASTEWARD_ENV="test",
        DATASTEWARD_VAR_DIR=settings.var_dir,
        DATASTEWARD_DATABASE_URL=settings.database_url,
        DATASTEWARD_KEYSTORE_URL=settings.keystore_url,
        DATASTEWARD_KEYRING_FILE=settings.keyring_file,
        DATASTEWARD_BLIND_INDEX_KEY_FILE=settings.blind_index_key_file,
        DATASTEWARD_SIGNING_KEY_FILE=settings.signing_key_file,
        DATASTEWARD_DOCUMENT_STORE_DIR=settings.document_store_dir,
        DATASTEWARD_PROCESSES_DIR=settings.processes_dir,
        DATASTEWARD_BROKER_URL=broker_url,
        DATASTEWARD_TEST_CRASH_AT=crash_at,
    )
    env.update(extra)
    return env


def redis_worker_environment(settings: Settings, crash_at: str = "") -> dict[str, str]:
    """Broker and application Redis on the test database; unacknowledged jobs return in 2 s."""
    return worker_environment(
        settings,
        REDIS_URL,
        crash_at=crash_at,
        DATASTEWARD_REDIS_URL=REDIS_URL,
        DATASTEWARD_BROKER_VISIBILITY_TIMEOUT_S="2",
    )


class Worker:
    """`celery worker --pool solo`: killing the task kills the whole worker process."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        queues: Iterable[str] = (),
        beat_schedule: Path | None = None,
        loglevel: str = "WARNING",
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--loglevel",
            loglevel,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ]
        if queues:
            command += ["-Q", ",".join(queues)]
        if beat_schedule is not None:
            command += ["--beat", "--schedule", str(beat_schedule)]
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_killed(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def deletion_worker(settings: Settings, log_path: Path, crash_at: str = "") -> Worker:
    """The deletion worker on Redis, logging each job (the crash point's line included)."""
    return Worker(
        redis_worker_environment(settings, crash_at),
        log_path,
        queues=DELETION_QUEUES,
        loglevel="INFO",
    )


def flush_broker(url: str = REDIS_URL) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def publish_jobs(deps: Deps, broker_url: str = REDIS_URL) -> None:
    """Hand the jobs the use cases wrote to the real broker (the outbox's publisher)."""
    publish = celery_publisher(broker_url)
    for job_id, name, kwargs in deps.extras["published"]:
        publish(job_id, name, kwargs)


def wait_for(
    condition: Callable[[], bool], timeout: float = 60.0, *, worker: Worker | None = None
) -> bool:
    """Poll until ``condition`` holds (True) or time runs out (False); a dead worker fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.process.returncode}")
        if condition():
            return True
        time.sleep(0.25)
    return False


def wait_for_state(
    deps: Deps, request_id: str, state: str, worker: Worker, timeout: float = 90
) -> None:
    """Wait until the deletion request reaches ``state`` while the worker keeps running."""
    seen: list[str | None] = [None]

    def reached() -> bool:
        with deps.unit_of_work() as uow:
            seen[0] = uow.session.scalar(
                select(DeletionRequest.state).where(DeletionRequest.id == request_id)
            )
        return seen[0] == state

    if not wait_for(reached, timeout, worker=worker):
        raise AssertionError(f"deletion request stayed {seen[0]!r}, expected {state!r}")
