"""Production mode on this machine: two API replicas, two workers and beat, one of each killed.

Every installed procedure that has a driver (tests/production/drivers.py) is
driven through both replicas at once from a thread pool. Mid-run one API
process group and one worker get SIGKILL. Afterwards every case has finished
exactly once, the audit chain verifies, nothing was lost, and the metrics moved.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from service.access.models import User
from service.audit.chain import verify_chain
from service.audit.log import chain_anchor, iter_entries
from service.audit.models import AuditHead, AuditRecord
from service.cases.models import Case
from service.jobs import OutboxJob
from tests.conftest import POSTGRES_URL, REDIS_URL, need_service
from tests.ops.conftest import metric_value
from tests.production.client import FailoverClient, Stats
from tests.production.cluster import Cluster, Databases, get, ready, redis_url, wait_until
from tests.production.drivers import DRIVERS, CaseRun, drive_case

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

CASES_PER_PROCEDURE = 200
THREADS = 8
KILL_AFTER_FRACTION = 0.3
PORTS = {"api-a": 18471, "api-b": 18472, "worker-a": 18473, "worker-b": 18474}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    need_service("postgres")
    need_service("redis")
    import redis

    broker = redis_url(REDIS_URL)
    redis.Redis.from_url(broker).flushdb()
    databases = Databases(POSTGRES_URL)
    databases.create()
    deployment = Cluster(tmp_path_factory.mktemp("production"), databases, broker)
    try:
        init = deployment.run("init", "--demo")
        assert init.returncode == 0, init.stderr
        yield _started(deployment), databases
    finally:
        deployment.stop()
        databases.drop()


def _started(deployment: Cluster) -> Cluster:
    bases = [deployment.start_api(name, PORTS[name]) for name in ("api-a", "api-b")]
    deployment.start_worker("worker-a", "engine,deletion,archiving,timers", PORTS["worker-a"])
    deployment.start_worker("worker-b", "engine,timers,deletion,archiving", PORTS["worker-b"])
    deployment.start_beat()
    for base in bases:
        wait_until(lambda base=base: ready(base), f"{base}/readyz", timeout=90)
    for name in ("worker-a", "worker-b"):
        url = f"http://127.0.0.1:{PORTS[name]}/metrics"
        wait_until(lambda url=url: get(url)[0] == 200, f"{name} metrics", timeout=90)
    deployment.bases = bases
    return deployment


def test_the_deployment_passes_its_own_configuration_check(cluster):
    deployment, _databases = cluster
    result = deployment.run("check-config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout or "configuration OK" in result.stdout


def test_cases_survive_a_killed_api_and_a_killed_worker(cluster):
    deployment, databases = cluster
    bases = deployment.bases
    stats = Stats()
    client = FailoverClient(list(bases), stats)
    procedures = _installed_procedures(client)
    driven = {name: DRIVERS[name] for name in procedures if name in DRIVERS}
    assert "collection" in driven, procedures
    metrics_before = get(f"{bases[1]}/metrics")[1]
    jobs_before = get(f"http://127.0.0.1:{PORTS['worker-b']}/metrics")[1]

    runs = _plan_runs(driven)
    started = time.monotonic()
    killer = _kill_midway(deployment, runs)
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(
            pool.map(lambda run: drive_case(client, driven[run.procedure], run, stats), runs)
        )
    killer.join(timeout=60)
    elapsed = time.monotonic() - started
    assert killer.killed, "the run ended before the kill; raise CASES_PER_PROCEDURE"
    assert not deployment.alive("api-a") and not deployment.alive("worker-a")
    assert stats.failovers >= 1

    _finish_orphans(client, databases, runs, driven, stats)
    for run, summary in zip(runs, outcomes, strict=True):
        assert summary["status"] == "completed"
        assert summary["outcome"] == driven[run.procedure].outcomes[run.plan], run
    _check_database(databases, runs, stats)
    _check_metrics_moved(bases[1], metrics_before, jobs_before, len(runs))
    print(
        f"\nproduction run: {len(runs)} cases in {elapsed:.1f}s "
        f"({len(runs) / elapsed:.1f} cases/s, {stats.requests} requests, "
        f"{stats.failovers} failovers, {stats.conflicts_after_retry} 409s after retry)"
    )


def _installed_procedures(client: FailoverClient) -> list[str]:
    for user in ("frontdesk", "frontdesk2", "reviewer", "reviewer2"):
        client.login(user)
    reply = client.call("GET", "/api/v1/procedures", "frontdesk", 0)
    assert reply.status == 200, reply.body
    return [p["procedure"] for p in reply.body["procedures"]]


def _plan_runs(driven: dict) -> list[CaseRun]:
    runs = []
    for name, driver in driven.items():
        for index in range(CASES_PER_PROCEDURE):
            runs.append(CaseRun(name, index, driver.plan(index)))
    return runs


class _Killer(threading.Thread):
    """Kills one API replica and one worker once part of the cases have finished."""

    def __init__(self, deployment: Cluster, runs: list[CaseRun]) -> None:
        super().__init__(daemon=True)
        self.deployment, self.runs, self.killed = deployment, runs, False

    def run(self) -> None:
        deadline = time.monotonic() + 150
        threshold = int(len(self.runs) * KILL_AFTER_FRACTION)
        while time.monotonic() < deadline:
            if sum(1 for run in self.runs if run.rounds) >= threshold:
                self.deployment.kill("api-a")
                self.deployment.kill("worker-a")
                self.killed = True
                return
            time.sleep(0.05)


def _kill_midway(deployment: Cluster, runs: list[CaseRun]) -> _Killer:
    killer = _Killer(deployment, runs)
    killer.start()
    return killer


def _finish_orphans(client, databases, runs, driven, stats) -> None:
    """Cases started by a request whose reply was lost: allowed, then walked to the end."""
    known = {run.case_id for run in runs}
    engine = create_engine(databases.data_url)
    with Session(engine) as session:
        rows = session.execute(
            select(Case.id, Case.procedure, User.username).join(User, User.id == Case.started_by)
        ).all()
    engine.dispose()
    orphans = [row for row in rows if row.id not in known]
    assert len(orphans) <= stats.retried_starts, orphans
    for number, row in enumerate(orphans):
        driver = driven[row.procedure]
        parity = driver.users.index(row.username)
        run = CaseRun(row.procedure, 100_000 + 2 * number + parity, driver.plans[0], row.id)
        runs.append(run)
        drive_case(client, driver, run, stats)


def _check_database(databases: Databases, runs: list[CaseRun], stats: Stats) -> None:
    engine = create_engine(databases.data_url)
    with Session(engine) as session:
        statuses = dict(session.execute(select(Case.id, Case.status)).all())
        assert set(statuses) == {run.case_id for run in runs}, "a case was lost or invented"
        assert set(statuses.values()) == {"completed"}
        completions = dict(
            session.execute(
                select(AuditRecord.case_id, func.count())
                .where(AuditRecord.action == "case.complete")
                .group_by(AuditRecord.case_id)
            ).all()
        )
        assert completions == dict.fromkeys(statuses, 1), "a case finished twice or never"
        anchor_seq, anchor_hash = chain_anchor(session)
        report = verify_chain(iter_entries(session, anchor_seq), anchor_hash, anchor_seq + 1)
        head = session.get_one(AuditHead, 1)
        assert report.ok, report
        assert anchor_seq + report.checked == head.seq
        unpublished = session.scalar(
            select(func.count()).select_from(OutboxJob).where(OutboxJob.published_at.is_(None))
        )
        assert unpublished == 0, "a job was never handed to the broker"
    engine.dispose()


def _check_metrics_moved(base: str, before: str, jobs_before: str, cases: int) -> None:
    after = get(f"{base}/metrics")[1]
    for name in ("datasteward_cases_started_total", "datasteward_cases_finished_total"):
        moved = metric_value(after, name) - metric_value(before, name)
        # Replica b served at least the cases after the kill, at most all of them.
        assert 0 < moved <= cases + 20, (name, moved)
    requests = "datasteward_http_requests_total"
    assert metric_value(after, requests) > metric_value(before, requests)
    assert metric_value(after, "datasteward_audit_chain_head_age_seconds") < 60
    jobs_after = get(f"http://127.0.0.1:{PORTS['worker-b']}/metrics")[1]
    fired = "datasteward_jobs_total"
    assert metric_value(jobs_after, fired, outcome="success") > metric_value(
        jobs_before, fired, outcome="success"
    )


def test_logs_of_the_run_are_json_and_hold_no_customer_data(cluster):
    import json

    deployment, _databases = cluster
    from tests.production.drivers import collection_form

    samples = [collection_form(i) for i in range(0, CASES_PER_PROCEDURE, 37)]
    for name in ("api-b", "worker-b", "beat"):
        text = (deployment.logs / f"{name}.log").read_text(errors="replace")
        for form in samples:
            for field in ("name", "id_number", "mobile", "address"):
                assert form[field] not in text, (name, field)
    lines = (deployment.logs / "api-b.log").read_text().splitlines()
    requests = [json.loads(line) for line in lines if '"datasteward.request"' in line]
    assert requests and all(entry["request_id"] for entry in requests)
