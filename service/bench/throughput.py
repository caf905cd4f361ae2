"""Complete collection cases through the use-case layer, one worker process per core.

Processes, not threads: each worker has its own interpreter, so the figure is
what a deployment with one API/worker process per core can do, without the GIL
flattening it. Each worker warms up (imports, spec cache, connection pool)
before the clock starts; the parent starts every worker at once and divides
the cases done by the wall time from that start to the last worker's end.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from queue import Empty
from typing import Any

from service.access.service import Actor
from service.config import Settings

WARMUP_CASES = 3


@dataclass(frozen=True)
class WorkerPlan:
    settings: Settings
    desk: Actor
    reviewer: Actor
    cases: int
    block: int


def _worker(plan: WorkerPlan, ready: Any, go: Any, results: Any) -> None:
    from service.bench.flows import run_collection, use_subscriber_block
    from service.bootstrap import build_deps

    use_subscriber_block(plan.block)
    deps = None
    try:
        deps = build_deps(plan.settings)
        for _ in range(WARMUP_CASES):
            run_collection(deps, plan.desk, plan.reviewer)
        ready.put(True)
        go.wait()
        for _ in range(plan.cases):
            run_collection(deps, plan.desk, plan.reviewer)
        results.put((plan.cases, time.perf_counter(), None))
    except Exception as error:  # noqa: BLE001 - reported by the parent
        ready.put(True)
        results.put((0, time.perf_counter(), f"{type(error).__name__}: {error}"))
    finally:
        if deps is not None:
            deps.db.dispose()


def service_cases_per_s(plans: list[WorkerPlan]) -> float:
    """Cases per second over all workers; raises if any worker failed."""
    context = mp.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [context.Process(target=_worker, args=(p, ready, go, results)) for p in plans]
    for worker in workers:
        worker.start()
    _wait_for(ready, workers)
    began = time.perf_counter()
    go.set()
    outcomes = _wait_for(results, workers)
    for worker in workers:
        worker.join(timeout=60)
    errors = [error for _, _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"a bench worker failed: {errors[0]}")
    finished = max(end for _, end, _ in outcomes)
    return sum(done for done, _, _ in outcomes) / (finished - began)


def _wait_for(queue: Any, workers: list[Any]) -> list[Any]:
    """One message per worker; a worker that died without a word is an error, not a hang."""
    messages: list[Any] = []
    while len(messages) < len(workers):
        try:
            messages.append(queue.get(timeout=1))
        except Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a bench worker exited with code {dead[0]}") from None
    return messages
