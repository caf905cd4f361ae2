"""Jobs are split into queues by kind, so a flood of one cannot starve another."""

from __future__ import annotations

import pytest

from service.config import Settings
from service.ops.queues import QUEUES, queue_for
from tests.ops.conftest import metric_value


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("datasteward.deletion.shred_subject", "deletion"),
        ("datasteward.audit.seal_segment", "archiving"),
        ("datasteward.archiving.archive_segment", "archiving"),
        ("datasteward.timers.fire_due", "timers"),
        ("datasteward.outbox.relay", "timers"),
        ("datasteward.cases.resume", "engine"),
        ("anything.else", "engine"),
    ],
)
def test_a_job_goes_to_the_queue_of_its_kind(task_name, queue):
    assert queue_for(task_name) == queue


def test_the_celery_app_routes_by_the_same_table_and_declares_every_queue(tmp_path):
    from workers.celery_app import make_celery

    app = make_celery(Settings(var_dir=str(tmp_path)).resolved())
    assert {q.name for q in app.conf.task_queues} == set(QUEUES)
    assert app.conf.task_default_queue == "engine"
    router = app.amqp.router
    for name, queue in (
        ("datasteward.deletion.shred_subject", "deletion"),
        ("datasteward.timers.fire_due", "timers"),
        ("datasteward.cases.resume", "engine"),
    ):
        assert router.route({}, name)["queue"].name == queue


def test_beat_entries_go_to_the_timers_queue(tmp_path):
    from workers.celery_app import make_celery

    app = make_celery(Settings(var_dir=str(tmp_path)).resolved())
    for entry in app.conf.beat_schedule.values():
        assert queue_for(entry["task"]) in QUEUES


def test_a_worker_job_is_counted_with_its_queue_outcome_and_duration(tmp_path):
    from prometheus_client import REGISTRY, generate_latest

    from workers.celery_app import make_celery

    app = make_celery(Settings(var_dir=str(tmp_path)).resolved())

    @app.task(name="datasteward.deletion.ops_probe")
    def probe(fail: bool) -> int:
        if fail:
            raise RuntimeError("probe failed")
        return 1

    def jobs(outcome: str) -> float:
        text = generate_latest(REGISTRY).decode()
        labels = {"task": "datasteward.deletion.ops_probe", "queue": "deletion"}
        return metric_value(text, "datasteward_jobs_total", outcome=outcome, **labels)

    before_ok, before_failed = jobs("success"), jobs("failure")
    probe.apply(kwargs={"fail": False})
    probe.apply(kwargs={"fail": True})
    assert jobs("success") == before_ok + 1
    assert jobs("failure") == before_failed + 1
    text = generate_latest(REGISTRY).decode()
    count = "datasteward_job_duration_seconds_count"
    assert metric_value(text, count, task="datasteward.deletion.ops_probe") >= 2
