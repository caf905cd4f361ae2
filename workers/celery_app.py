"""The Celery app, built from the same Settings as the web service."""

from __future__ import annotations

from functools import cache

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from service.bootstrap import build_deps
from service.config import Settings
from service.deps import Deps
from service.jobs import celery_publisher
from service.ops.queues import DEFAULT_QUEUE, QUEUES, route_task
from service.ops.worker import instrument


def make_celery(settings: Settings) -> Celery:
    app = Celery(
        "datasteward",
        broker=settings.broker_url,
        include=[
            "workers.timers",
            "workers.archiving",
            "workers.deletion",
            "workers.reviews",
            "workers.training",
            "workers.notifications",
        ],
    )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        # Jobs split by kind (service/ops/queues.py); a worker without -Q takes them all.
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=DEFAULT_QUEUE,
        task_routes=(route_task,),
        beat_schedule={
            "fire-due-timers": {
                "task": "datasteward.timers.fire_due",
                "schedule": float(settings.timer_interval_s),
            },
            "relay-outbox": {
                "task": "datasteward.outbox.relay",
                "schedule": float(settings.outbox_interval_s),
            },
            "deliver-notifications": {
                "task": "datasteward.notifications.deliver",
                "schedule": float(settings.notify_interval_s),
            },
            "audit-checkpoint": {
                "task": "datasteward.audit.checkpoint",
                "schedule": float(settings.checkpoint_interval_s),
            },
            "audit-archive": {
                "task": "datasteward.audit.archive",
                "schedule": crontab(hour=2, minute=17),
            },
            "resume-stalled-deletions": {
                "task": "datasteward.deletion.resume_stalled",
                "schedule": 300.0,
            },
            "release-expired-holds": {
                "task": "datasteward.deletion.release_expired_holds",
                "schedule": 3600.0,
            },
            "start-due-procedure-reviews": {
                "task": "datasteward.reviews.start_due",
                "schedule": crontab(hour=3, minute=7),
            },
            "training-reminders": {
                "task": "datasteward.training.remind",
                "schedule": crontab(hour=6, minute=3),
            },
            "purge-login-attempts": {
                "task": "datasteward.access.purge_login_attempts",
                "schedule": crontab(hour=4, minute=41),
            },
        },
    )
    if not settings.uses_embedded_broker:
        # A killed worker's unacknowledged job (acks_late) is redelivered after this long.
        # (The embedded SQLite transport takes no transport options.)
        timeout = settings.broker_visibility_timeout_s
        app.conf.broker_transport_options = {
            "visibility_timeout": timeout,
            # Look for expired unacknowledged jobs on every restore tick (a cheap
            # sorted-set range), not every tenth: a killed worker's job then comes
            # back soon after its visibility timeout instead of minutes later.
            "unacked_restore_throttle": 1,
            "unacked_restore_interval": max(1, min(10, timeout)),
        }
    instrument(app)
    return app


@cache
def worker_deps() -> Deps:
    """Built once per worker process, on first use (never at import)."""
    settings = Settings.from_env()
    return build_deps(settings, publish=celery_publisher(settings.broker_url))


app = make_celery(Settings.from_env())
