"""The transactional outbox: jobs are rows written in the use case's transaction.

A job exists if and only if its transaction committed. After commit the
publisher hands it to the broker by task name; a periodic relay re-publishes
anything a broker outage left behind. Jobs carry ids, never personal data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base, Database

log = logging.getLogger("datasteward.jobs")

Publisher = Callable[[str, str, dict], None]
"""publish(job_id, task_name, kwargs): hands one job to the broker."""


class OutboxJob(Base):
    __tablename__ = "outbox_jobs"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(128))
    kwargs: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def enqueue(session: Session, task_name: str, kwargs: dict, now: datetime) -> str:
    """Write a job row in the caller's transaction; returns its id."""
    job_id = str(uuid.uuid4())
    session.add(OutboxJob(id=job_id, task_name=task_name, kwargs=kwargs, created_at=now))
    return job_id


def enqueue_job(uow: Any, deps: Any, task_name: str, kwargs: dict) -> str:
    """Write a job in the use case's transaction and publish it once that commits.

    If the broker is unreachable then, the row stays unpublished and the
    periodic relay sends it later: the job is never lost and never invented.
    """
    job_id = enqueue(uow.session, task_name, kwargs, deps.now())
    publish = deps.publish
    if publish is not None:

        def after_commit() -> None:
            try:
                publish(job_id, task_name, kwargs)
            except Exception:  # noqa: BLE001 - the relay retries; the commit stands
                log.warning("job %s (%s) not published; the relay retries", job_id, task_name)
                return
            mark_published(deps.db, job_id, deps.now())

        uow.after_commit.append(after_commit)
    return job_id


def relay(database: Database, publish: Publisher, now: datetime, min_age_s: int = 0) -> int:
    """Publish every job not yet marked published; returns how many went out."""
    cutoff = now - timedelta(seconds=min_age_s)
    with database.unit_of_work() as uow:
        rows = uow.session.execute(
            select(OutboxJob.id, OutboxJob.task_name, OutboxJob.kwargs)
            .where(OutboxJob.published_at.is_(None), OutboxJob.created_at <= cutoff)
            .order_by(OutboxJob.created_at)
            .limit(500)
        ).all()
        uow.commit()
    sent = 0
    for job_id, task_name, kwargs in rows:
        publish(job_id, task_name, kwargs)
        mark_published(database, job_id, now)
        sent += 1
    return sent


def mark_published(database: Database, job_id: str, now: datetime) -> None:
    with database.unit_of_work() as uow:
        uow.session.execute(
            update(OutboxJob).where(OutboxJob.id == job_id).values(published_at=now)
        )
        uow.commit()


def celery_publisher(broker_url: str) -> Publisher:
    """Publish by task name through a Celery client; the service never imports workers/."""
    from celery import Celery

    from service.ops.queues import queue_for

    client = Celery("datasteward-publisher", broker=broker_url)

    def publish(job_id: str, task_name: str, kwargs: dict) -> None:
        client.send_task(task_name, kwargs=kwargs, task_id=job_id, queue=queue_for(task_name))

    return publish
