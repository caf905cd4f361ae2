"""Production mode on this machine: two API replicas, two workers and beat, one of each killed.

First enough collection cases run to enter the customers the other procedures
need. Then every installed procedure that has a driver (drivers.py) is driven
through both replicas at once from a thread pool, CASES_PER_PROCEDURE cases
each, interleaved. Mid-run one API process group gets SIGKILL, and later one
worker, at a moment its log shows a deletion job in flight: the broker hands
that job to the other worker once the visibility timeout has passed.

Afterwards every case has finished exactly once with the outcome its plan
leads to, every approved deletion has exactly one certificate and its
customer's key is gone from the key store, the killed worker's deletion jobs
were redelivered and finished, the audit chain verifies, no job was left
unpublished, and the metrics of both replicas and the surviving worker moved
for every procedure.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from service.access.models import User
from service.audit.chain import verify_chain
from service.audit.log import chain_anchor, iter_entries
from service.audit.models import AuditHead, AuditRecord
from service.cases.models import Case
from service.jobs import OutboxJob
from service.vault import certificates
from service.vault.models import (
    BlindIndexEntry,
    DataKey,
    DeletionCertificate,
    DeletionRequest,
    Subject,
    SubjectDocument,
    SubjectField,
)
from service.vault.shredding import SHRED_JOB
from tests.conftest import POSTGRES_URL, REDIS_URL, need_service
from tests.ops.conftest import metric_value
from tests.production.client import FailoverClient, Stats
from tests.production.cluster import (
    VISIBILITY_TIMEOUT_S,
    Cluster,
    Databases,
    JobLog,
    get,
    ready,
    redis_url,
    wait_until,
)
from tests.production.drivers import (
    DRIVERS,
    CaseRun,
    Driver,
    change_request,
    collection_form,
    drive_case,
    identify,
    wait_for_workers,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

# Cases of every procedure in the main run. Update and deletion each need a customer of
# their own entered first, so the run starts with 2 x this many collection cases as well.
# At 200 the whole module takes about two minutes on a 2-core machine.
CASES_PER_PROCEDURE = 200
THREADS = 8
API_KILL_AFTER_FRACTION = 0.3  # of the main run's cases begun
# worker-a dies once a deletion job has been in its hands this long (a deletion job takes
# about 0.1-0.3 s here): far enough in that the job has usually begun its steps.
KILL_INTO_JOB_S = 0.04
SEED_BASE, ORPHAN_BASE = 10_000, 20_000  # collection-form indices (distinct customers)
PORTS = {"api-a": 18471, "api-b": 18472, "worker-a": 18473, "worker-b": 18474}
PROCEDURES = ("collection", "update", "query", "deletion")
STARTED, FINISHED = "datasteward_cases_started_total", "datasteward_cases_finished_total"
JOBS = "datasteward_jobs_total"


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
    driven = _login_and_pick_drivers(client)
    assert set(driven) == set(PROCEDURES), sorted(driven)

    seeds = _enter_customers(client, driven, stats)
    runs = _plan_runs(driven, seeds)
    before = _scrape(deployment)
    started = time.monotonic()
    killer = _Killer(deployment, runs)
    killer.start()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda run: drive_case(client, driven[run.procedure], run, stats), runs))
    final = wait_for_workers(client, driven, runs, timeout=120 + 4 * VISIBILITY_TIMEOUT_S)
    elapsed = time.monotonic() - started
    killer.done.set()
    killer.join(timeout=30)
    assert killer.error is None, killer.error
    assert killer.api_killed, "the run ended before the API kill; raise CASES_PER_PROCEDURE"
    assert killer.killed_jobs, "the run ended before a deletion job was in flight on worker-a"
    assert not deployment.alive("api-a") and not deployment.alive("worker-a")
    assert stats.failovers >= 1
    orphans = _finish_orphans(client, databases, seeds + runs, driven, stats)
    for run in runs:
        summary = final[run.case_id]
        assert summary["status"] == "completed", run
        assert summary["outcome"] == driven[run.procedure].outcomes[run.plan], (run, summary)

    _check_lookups(client, runs)
    everything = seeds + runs + orphans
    _check_cases_and_audit(databases, everything)
    _check_deletions(databases, runs)
    _check_redelivery(deployment, killer.killed_jobs)
    _check_metrics_moved(deployment, before, killer.api_a_metrics, runs + orphans)
    kinds = Counter(run.procedure for run in runs)
    print(
        f"\nproduction run: {len(seeds)} customers entered, then {len(runs)} cases "
        f"({dict(kinds)}) in {elapsed:.1f}s ({len(runs) / elapsed:.1f} cases/s, "
        f"{stats.requests} requests, {stats.failovers} failovers, "
        f"{stats.conflicts_after_retry} 409s after retry, {len(orphans)} orphans, "
        f"deletion jobs in flight on the killed worker, left at: {killer.left_in_state})"
    )


def _login_and_pick_drivers(client: FailoverClient) -> dict[str, Driver]:
    users = {user for driver in DRIVERS.values() for user in driver.users}
    for user in sorted(users):
        client.login(user)
    reply = client.call("GET", "/api/v1/procedures", "frontdesk", 0)
    assert reply.status == 200, reply.body
    installed = [p["procedure"] for p in reply.body["procedures"]]
    return {name: DRIVERS[name] for name in installed if name in DRIVERS}


def _enter_customers(client: FailoverClient, driven: dict, stats: Stats) -> list[CaseRun]:
    """Collection cases that enter the customers of the main run's update, query, deletion."""
    seeds = [
        CaseRun("collection", SEED_BASE + k, "approve") for k in range(2 * CASES_PER_PROCEDURE)
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        summaries = list(
            pool.map(lambda run: drive_case(client, driven[run.procedure], run, stats), seeds)
        )
    for run, summary in zip(seeds, summaries, strict=True):
        assert (summary["status"], summary["outcome"]) == ("completed", "entered"), run
    return seeds


def _plan_runs(driven: dict[str, Driver], seeds: list[CaseRun]) -> list[CaseRun]:
    """The main run, interleaved so every procedure runs at once from start to end.

    Deletion gets the first half of the entered customers, update the second
    half; queries ask about the update half (by ID number or mobile, which an
    update never changes).
    """
    half = {
        "deletion": [seed.index for seed in seeds[:CASES_PER_PROCEDURE]],
        "update": [seed.index for seed in seeds[CASES_PER_PROCEDURE:]],
    }
    half["query"] = half["update"]
    runs = []
    for index in range(CASES_PER_PROCEDURE):
        for name in PROCEDURES:
            driver = driven[name]
            customer = half[name][index] if driver.needs_customer else -1
            runs.append(CaseRun(name, index, driver.plan(index), customer=customer))
    return runs


class _Killer(threading.Thread):
    """SIGKILLs api-a once part of the run has begun, then worker-a mid deletion job."""

    def __init__(self, deployment: Cluster, runs: list[CaseRun]) -> None:
        super().__init__(daemon=True)
        self.deployment, self.runs = deployment, runs
        self.done = threading.Event()  # the run has ended: stop waiting
        self.api_killed = False
        self.api_a_metrics = ""
        self.killed_jobs: list[str] = []
        self.left_in_state: dict[str, str] = {}  # killed job -> its deletion's state then
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._kill_api()
            self._kill_worker()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def _kill_api(self) -> None:
        threshold = int(len(self.runs) * API_KILL_AFTER_FRACTION)
        while sum(1 for run in self.runs if run.rounds) < threshold:
            if self.done.wait(0.05):
                return
        # Its figures, just before it dies (a dead process has no /metrics).
        self.api_a_metrics = _scrape(self.deployment, ("api-a",))["api-a"]
        self.deployment.kill("api-a")
        self.api_killed = True

    def _kill_worker(self) -> None:
        if not self.api_killed:
            return
        log = JobLog(self.deployment.logs / "worker-a.log", SHRED_JOB)
        while not log.read().in_flight(for_at_least=KILL_INTO_JOB_S):
            if self.done.wait(0.005):
                return
        self.deployment.kill("worker-a")
        # Read the whole log of the dead worker: what it had taken and never finished.
        self.killed_jobs = log.read().in_flight()
        self.left_in_state = _deletion_states(self.deployment.databases, self.killed_jobs)


def _deletion_states(databases: Databases, jobs: list[str]) -> dict[str, str]:
    """The step each job's deletion had reached (the job id is the outbox job's id)."""
    engine = create_engine(databases.data_url)
    with Session(engine) as session:
        states = {}
        for job in jobs:
            kwargs = session.scalar(select(OutboxJob.kwargs).where(OutboxJob.id == job))
            request = session.get_one(DeletionRequest, kwargs["request_id"])
            states[job] = request.state
    engine.dispose()
    return states


def _finish_orphans(client, databases, runs, driven, stats) -> list[CaseRun]:
    """Cases started by a request whose reply was lost: allowed, then walked to their end.

    They follow each driver's `orphan_plan`, which changes no customer's data;
    update, query and deletion orphans are about an updated customer that stays.
    """
    known = {run.case_id for run in runs}
    engine = create_engine(databases.data_url)
    with Session(engine) as session:
        rows = session.execute(
            select(Case.id, Case.procedure, User.username).join(User, User.id == Case.started_by)
        ).all()
    engine.dispose()
    orphans = [row for row in rows if row.id not in known]
    assert len(orphans) <= stats.retried_starts, orphans
    walked = []
    for number, row in enumerate(orphans):
        driver = driven[row.procedure]
        slot = driver.starters.index(row.username)
        index = ORPHAN_BASE + len(driver.starters) * number + slot
        customer = SEED_BASE + CASES_PER_PROCEDURE if driver.needs_customer else -1
        run = CaseRun(row.procedure, index, driver.orphan_plan, row.id, customer=customer)
        summary = drive_case(client, driver, run, stats)
        assert summary["outcome"] == driver.outcomes[driver.orphan_plan], (run, summary)
        walked.append(run)
    return walked


def _check_cases_and_audit(databases: Databases, runs: list[CaseRun]) -> None:
    engine = create_engine(databases.data_url)
    with Session(engine) as session:
        statuses = dict(session.execute(select(Case.id, Case.status)).all())
        assert set(statuses) == {run.case_id for run in runs}, "a case was lost or invented"
        assert set(statuses.values()) == {"completed"}
        once = dict.fromkeys(statuses, 1)
        assert _count_by_case(session, "case.start") == once, "a case started twice"
        assert _count_by_case(session, "case.complete") == once, "a case finished twice or never"
        updates = _count_by_case(session, "subject.update")
        for run in runs:
            if run.procedure == "update":
                applied = DRIVERS["update"].outcomes[run.plan] == "updated"
                assert updates.get(run.case_id, 0) == int(applied), (run, "change applied")
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


def _count_by_case(session: Session, action: str) -> dict[str, int]:
    rows = session.execute(
        select(AuditRecord.case_id, func.count())
        .where(AuditRecord.action == action, AuditRecord.outcome == "done")
        .group_by(AuditRecord.case_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def _check_deletions(databases: Databases, runs: list[CaseRun]) -> None:
    """One certificate per approved deletion, none for a refused one; the key is gone."""
    deletions = [run for run in runs if run.procedure == "deletion"]
    deleted = {run.case_id for run in deletions if run.plan == "delete"}
    assert deleted and len(deleted) < len(deletions)
    engine, keystore = create_engine(databases.data_url), create_engine(databases.keystore_url)
    with Session(engine) as session, Session(keystore) as keys:
        issued = Counter(session.scalars(select(DeletionCertificate.case_id)))
        assert issued == Counter(deleted), "a certificate is missing or was issued twice"
        for action in ("subject.key_destroyed", "subject.data_removed", "subject.shredded"):
            assert _count_by_case(session, action) == dict.fromkeys(deleted, 1), action
        requests = session.execute(select(DeletionRequest.case_id, DeletionRequest.state)).all()
        assert Counter(case for case, _ in requests) == Counter(deleted)
        assert {state for _, state in requests} == {"completed"}
        shred_jobs = session.scalar(
            select(func.count()).select_from(OutboxJob).where(OutboxJob.task_name == SHRED_JOB)
        )
        assert shred_jobs == len(deleted), "one deletion job per approved deletion"
        subjects = dict(session.execute(select(Case.id, Case.subject)).all())
        remaining_keys = set(keys.scalars(select(DataKey.subject)))
        for run in deletions:
            subject = subjects[run.case_id]
            status = session.scalar(select(Subject.status).where(Subject.pseudonym == subject))
            if run.case_id in deleted:
                assert subject not in remaining_keys, (run, "data key still in the key store")
                assert status == "shredded", run
                for table in (SubjectField, BlindIndexEntry, SubjectDocument):
                    left = session.scalar(
                        select(func.count()).select_from(table).where(table.subject == subject)
                    )
                    assert left == 0, (run, table.__tablename__)
            else:
                assert subject in remaining_keys and status == "active", run
        for row in session.scalars(select(DeletionCertificate)):
            assert certificates.verify(row.body, row.signature, row.public_key)
            destroyed = json.loads(row.body)["destroyed"]
            assert destroyed["document_files_removed"] >= 1, (row.case_id, "proof file kept")
            assert destroyed["data_key"]["destroyed_at"], row.case_id
    engine.dispose()
    keystore.dispose()


def _check_lookups(client: FailoverClient, runs: list[CaseRun]) -> None:
    """At the counter, a deleted customer's ID number finds no one; a kept one is found."""
    for run in (run for run in runs if run.procedure == "deletion"):
        reply = client.call(
            "POST", "/api/v1/subjects/lookup", "frontdesk", run.index, identify(run.customer)
        )
        assert reply.status == 200, reply.body
        assert reply.body["found"] is (run.plan != "delete"), (run, reply.body)


def _check_redelivery(deployment: Cluster, killed_jobs: list[str]) -> None:
    """The deletion jobs worker-a died holding were handed to worker-b and finished there.

    Their requests are usually done by then in another job's batch, so the cases
    can all finish before the broker's visibility timeout hands the killed
    message on: wait for the redelivery itself.
    """
    deadline = time.monotonic() + 6 * VISIBILITY_TIMEOUT_S + 30
    while True:
        survivor = JobLog(deployment.logs / "worker-b.log", SHRED_JOB).read()
        if all(survivor.finished.get(job) for job in killed_jobs):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for job in killed_jobs:
        assert job in survivor.received, f"deletion job {job} was never redelivered"
        assert survivor.finished.get(job) == "success", f"deletion job {job} did not finish"


def _scrape(deployment: Cluster, names: tuple[str, ...] = ("api-a", "api-b", "worker-b")):
    urls = {
        "api-a": f"http://127.0.0.1:{PORTS['api-a']}/metrics",
        "api-b": f"http://127.0.0.1:{PORTS['api-b']}/metrics",
        "worker-b": f"http://127.0.0.1:{PORTS['worker-b']}/metrics",
    }
    return {name: get(urls[name])[1] for name in names}


def _moved(after: str, before: str, name: str, **labels: str) -> float:
    return metric_value(after, name, **labels) - metric_value(before, name, **labels)


def _check_metrics_moved(
    deployment: Cluster, before: dict[str, str], api_a_last: str, runs: list[CaseRun]
) -> None:
    """Each replica counted cases of every procedure; the surviving worker counted deletions."""
    after = _scrape(deployment, ("api-b", "worker-b"))
    assert api_a_last, "api-a was not scraped before it was killed"
    after["api-a"] = api_a_last
    cases = Counter(run.procedure for run in runs)
    table: dict[str, dict[str, Any]] = {}
    for procedure in PROCEDURES:
        figures = {
            f"{api} {kind}": _moved(after[api], before[api], name, procedure=procedure)
            for api in ("api-a", "api-b")
            for kind, name in (("started", STARTED), ("finished", FINISHED))
        }
        table[procedure] = figures
        for what, moved in figures.items():
            # Each replica served some of every procedure's cases, never more than all of them.
            assert 0 < moved <= cases[procedure], (procedure, what, moved)
        both = figures["api-a started"] + figures["api-b started"]
        assert both <= cases[procedure], (procedure, both)
    worker = {
        "shred success": _moved(after["worker-b"], before["worker-b"], JOBS, task=SHRED_JOB),
        "deletion finished": _moved(
            after["worker-b"], before["worker-b"], FINISHED, procedure="deletion"
        ),
    }
    assert worker["shred success"] > 0 and worker["deletion finished"] > 0, worker
    assert _moved(after["worker-b"], before["worker-b"], JOBS, outcome="failure") == 0
    head_age = metric_value(after["api-b"], "datasteward_audit_chain_head_age_seconds")
    assert head_age < 60
    print("\nmetrics moved during the run (api-a: until it was killed):")
    for procedure, figures in table.items():
        print(f"  {procedure:<10} " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    print("  worker-b   " + ", ".join(f"{k} {v:.0f}" for k, v in worker.items()))


def test_logs_of_the_run_are_json_and_hold_no_customer_data(cluster):
    deployment, _databases = cluster
    customers = list(range(0, CASES_PER_PROCEDURE, 37))
    customers += [SEED_BASE + k for k in range(0, 2 * CASES_PER_PROCEDURE, 41)]
    samples = [collection_form(i) for i in customers]
    changed = [change_request(CaseRun("update", i, "approve", customer=i)) for i in customers]
    for name in ("api-a", "api-b", "worker-a", "worker-b", "beat"):
        text = (deployment.logs / f"{name}.log").read_text(errors="replace")
        for form in samples:
            for field in ("name", "id_number", "mobile", "address"):
                assert form[field] not in text, (name, field)
        for request in changed:
            assert request["new_address"] not in text, name
    lines = (deployment.logs / "api-b.log").read_text().splitlines()
    requests = [json.loads(line) for line in lines if '"datasteward.request"' in line]
    assert requests and all(entry["request_id"] for entry in requests)
