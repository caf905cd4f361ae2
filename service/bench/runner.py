"""The benchmark run: phases in order, each adding its figures to one result dict."""

from __future__ import annotations

import functools
import itertools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.access.service import Actor
from service.bench import audit_bench, engine_bench, http_bench, latency, storage, throughput
from service.bench.flows import run_collection, run_correction_loop, run_until_review
from service.bench.scratch import Scratch, create_actors, create_scratch
from service.bootstrap import build_deps
from service.config import Settings
from service.deps import Deps
from service.engine import SPIFF_VERSION


@dataclass(frozen=True)
class Sizes:
    engine_cases: int
    cases_per_worker: int
    loop_iterations: int
    http_clients: int
    http_cases_per_client: int
    open_tasks: int
    task_list_samples: int
    audit_appends: int
    shred_subjects: int
    finished_steps: tuple[int, ...] = ()
    grown_cases_per_worker: int = 0


SIZES = {
    "tiny": Sizes(10, 2, 3, 2, 1, 20, 20, 20, 3),
    "quick": Sizes(300, 40, 30, 16, 3, 2_000, 200, 1_000, 20),
    "full": Sizes(2_000, 300, 200, 16, 20, 100_000, 500, 5_000, 200, (10_000, 100_000), 100),
}


# The paced HTTP run's load, as a fraction of the saturating run's throughput.
HTTP_PACED_LOAD = 0.5


@dataclass
class Actors:
    workers: list[tuple[Actor, Actor]]
    desk: Actor
    reviewer: Actor


class Bench:
    def __init__(self, scratch: Scratch, sizes: Sizes, progress: Callable[[str], None]) -> None:
        self.scratch, self.sizes, self.say = scratch, sizes, progress
        self.cores = os.cpu_count() or 1
        self.deps: Deps = build_deps(scratch.settings)
        self.result: dict[str, Any] = {
            "database": scratch.kind,
            "cores": self.cores,
            "spiffworkflow_version": SPIFF_VERSION,
        }
        self.actors = self._actors()
        self._blocks = itertools.count(1)  # subscriber numbers per worker process

    def _actors(self) -> Actors:
        desks = create_actors(self.deps, "bench_desk_", ["front_desk"], self.cores + 1)
        reviewers = create_actors(self.deps, "bench_reviewer_", ["reviewer"], self.cores + 1)
        return Actors(list(zip(desks[1:], reviewers[1:], strict=True)), desks[0], reviewers[0])

    def phase(
        self, name: str, keys: tuple[str, ...], measure: Callable[[], dict[str, Any]]
    ) -> None:
        """Run one phase; a phase that cannot run leaves its keys null with a reason."""
        self.say(f"{name} ...")
        began, before = time.perf_counter(), set(self.result)
        try:
            self.result.update(measure())
        except (LookupError, NotImplementedError) as missing:
            for key in keys:
                self.result[key] = None
                self.result[f"{key}_reason"] = str(missing)
        found = {k: v for k, v in self.result.items() if k not in before}
        self.say(f"{name}: done in {time.perf_counter() - began:.1f} s {found}")

    def run(self) -> dict[str, Any]:
        s = self.sizes
        self.phase("engine", ("engine_cases_per_s",), self._engine)
        self.phase("service", ("service_cases_per_s", "bytes_per_case"), self._service)
        self.result["service_to_engine_ratio"] = (
            self.result["service_cases_per_s"] / self.result["engine_cases_per_s"]
        )
        self.phase("correction loop", ("loop_iteration_ms_at_10",), self._loop)
        self.phase("http", ("http_complete_p50_ms", "http_complete_p99_ms"), self._http)
        self.phase("task list", ("task_list_p99_ms",), self._task_list)
        self.phase("audit append", ("audit_append_per_s",), self._audit_append)
        self.phase("shred", ("shred_per_s",), self._shred)
        for finished in s.finished_steps:
            self.phase(f"{finished} finished cases", (), functools.partial(self._grown, finished))
        self.phase("audit verify", ("audit_verify_per_s",), self._audit_verify)
        return self.result

    def _engine(self) -> dict[str, Any]:
        rate = engine_bench.engine_cases_per_s(
            self.scratch.settings.processes_dir, self.sizes.engine_cases
        )
        return {"engine_cases_per_s": rate}

    def _service(self) -> dict[str, Any]:
        run_collection(self.deps, self.actors.desk, self.actors.reviewer)
        before = storage.database_bytes(self.deps)
        rate = self._throughput(self.sizes.cases_per_worker)
        cases = len(self.actors.workers) * (self.sizes.cases_per_worker + throughput.WARMUP_CASES)
        grown = storage.database_bytes(self.deps) - before
        return {
            "service_cases_per_s": rate,
            "service_workers": len(self.actors.workers),
            "service_worker_kind": "processes",
            "bytes_per_case": grown / cases,
            "bytes_per_case_cases": cases,
        }

    def _throughput(self, cases_per_worker: int) -> float:
        plans = [
            throughput.WorkerPlan(
                self.scratch.settings, desk, reviewer, cases_per_worker, next(self._blocks)
            )
            for desk, reviewer in self.actors.workers
        ]
        return throughput.service_cases_per_s(plans)

    def _loop(self) -> dict[str, Any]:
        n = self.sizes.loop_iterations
        seconds = run_correction_loop(self.deps, self.actors.desk, self.actors.reviewer, n)
        early = seconds[max(0, min(9, n - 1) - 2) : min(9, n - 1) + 3]
        late = seconds[-5:]
        return {
            "loop_iterations": n,
            "loop_iteration_ms_at_10": 1000 * sum(early) / len(early),
            "loop_iteration_ms_at_last": 1000 * sum(late) / len(late),
        }

    def _http(self) -> dict[str, Any]:
        workers = http_bench.gunicorn_workers(self.cores)
        clients, cases = self.sizes.http_clients, self.sizes.http_cases_per_client
        with http_bench.running_server(self.scratch.settings, workers) as port:
            run = functools.partial(
                http_bench.http_completions,
                self.deps,
                port,
                self.actors.desk,
                self.actors.reviewer,
                clients,
                cases,
            )
            saturated = run()
            paced_rate = HTTP_PACED_LOAD * saturated.per_s
            paced = run(paced_rate)
        return {
            "http_complete_p50_ms": saturated.p50_ms,
            "http_complete_p99_ms": saturated.p99_ms,
            "http_completions": saturated.completions,
            "http_completions_per_s": saturated.per_s,
            "http_clients": clients,
            "http_server": f"gunicorn, {workers} sync workers",
            "http_paced_completions_per_s": paced_rate,
            "http_paced_p50_ms": paced.p50_ms,
            "http_paced_p99_ms": paced.p99_ms,
        }

    def _task_list(self) -> dict[str, Any]:
        template = run_until_review(self.deps, self.actors.desk)
        storage.CaseCopier(self.deps, template["id"]).copy(self.sizes.open_tasks - 1)
        p99 = latency.task_list_p99_ms(
            self.deps, self.actors.reviewer, self.sizes.task_list_samples
        )
        return {"task_list_p99_ms": p99, "open_tasks": self._open_tasks()}

    def _open_tasks(self) -> int:
        from sqlalchemy import func, select

        from service.cases.models import Task

        with self.deps.unit_of_work() as uow:
            return int(uow.session.scalar(select(func.count()).where(Task.status == "open")) or 0)

    def _audit_append(self) -> dict[str, Any]:
        rate = audit_bench.audit_append_per_s(self.deps, self.actors.desk, self.sizes.audit_appends)
        return {"audit_append_per_s": rate}

    def _audit_verify(self) -> dict[str, Any]:
        rate, records = audit_bench.audit_verify_per_s(self.deps)
        return {"audit_verify_per_s": rate, "audit_records_verified": records}

    def _shred(self) -> dict[str, Any]:
        if not audit_bench.shred_available():
            raise LookupError(
                "service.vault has no shred use case yet (crypto-shredding is the vault team's)"
            )
        subjects = [
            run_collection(self.deps, self.actors.desk, self.actors.reviewer)["subject"]
            for _ in range(self.sizes.shred_subjects)
        ]
        return {"shred_per_s": audit_bench.shred_per_s(self.deps, self.actors.desk, subjects)}

    def _grown(self, finished: int) -> dict[str, Any]:
        have = self._finished_cases()
        if finished > have:
            template = run_collection(self.deps, self.actors.desk, self.actors.reviewer)
            storage.CaseCopier(self.deps, template["id"]).copy(finished - have - 1)
        rate = self._throughput(self.sizes.grown_cases_per_worker)
        p99 = latency.task_list_p99_ms(
            self.deps, self.actors.reviewer, self.sizes.task_list_samples
        )
        return {
            f"service_cases_per_s_with_{finished}_finished": rate,
            f"task_list_p99_ms_with_{finished}_finished": p99,
        }

    def _finished_cases(self) -> int:
        from sqlalchemy import func, select

        from service.cases.models import Case

        with self.deps.unit_of_work() as uow:
            count = uow.session.scalar(select(func.count()).where(Case.status == "completed"))
            return int(count or 0)

    def close(self) -> None:
        self.deps.db.dispose()


def run_bench(database: str, sizes: Sizes, base: Settings, verbose: bool = True) -> dict[str, Any]:
    def say(message: str) -> None:
        if verbose:
            print(f"[bench] {message}", file=sys.stderr, flush=True)

    say(f"setting up a scratch {database if database == 'sqlite' else 'PostgreSQL'} database")
    scratch = create_scratch(database, base)
    try:
        bench = Bench(scratch, sizes, say)
        try:
            return bench.run()
        finally:
            bench.close()
    finally:
        scratch.drop()
