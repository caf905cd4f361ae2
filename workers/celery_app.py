"""The Celery app, built from the same Settings as the web service."""

from __future__ import annotations

from functools import cache

from celery import Celery

from service.bootstrap import build_deps
from service.config import Settings
from service.deps import Deps
from service.jobs import celery_publisher


def make_celery(settings: Settings) -> Celery:
    app = Celery("datasteward", broker=settings.broker_url, include=["workers.timers"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={
            "fire-due-timers": {
                "task": "datasteward.timers.fire_due",
                "schedule": float(settings.timer_interval_s),
            },
            "relay-outbox": {
                "task": "datasteward.outbox.relay",
                "schedule": float(settings.outbox_interval_s),
            },
        },
    )
    if settings.uses_embedded_broker:
        app.conf.broker_transport_options = {"polling_interval": 0.5}
    return app


@cache
def worker_deps() -> Deps:
    """Built once per worker process, on first use (never at import)."""
    settings = Settings.from_env()
    return build_deps(settings, publish=celery_publisher(settings.broker_url))


app = make_celery(Settings.from_env())
