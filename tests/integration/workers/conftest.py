"""A real Celery worker with beat, on the embedded broker and on Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.config import Settings
from tests.conftest import REDIS_URL, need_service
from tests.integration.worker_harness import (
    Worker,
    embedded_broker_url,
    flush_broker,
    worker_environment,
)


@pytest.fixture(params=["embedded", "redis"])
def broker_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "embedded":
        return embedded_broker_url(settings)
    need_service("redis")
    flush_broker()
    return REDIS_URL


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(broker: str, *, beat: bool = True, **extra: str) -> Worker:
        env = worker_environment(
            settings,
            broker,
            DATASTEWARD_TIMER_INTERVAL_S="1",
            DATASTEWARD_OUTBOX_INTERVAL_S="1",
            **extra,
        )
        schedule = tmp_path / "beat-schedule" if beat else None
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log", beat_schedule=schedule)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
