"""Latency sampling: the task list through its use case, percentiles."""

from __future__ import annotations

import math
import time

from service.access.service import Actor
from service.cases.queries import task_list
from service.deps import Deps


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def task_list_p99_ms(deps: Deps, reviewer: Actor, samples: int) -> float:
    """p99 of a reviewer's first page of claimable tasks (50, overdue first)."""
    task_list(deps, reviewer, "claimable", None, 50, 0)
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        page = task_list(deps, reviewer, "claimable", None, 50, 0)
        timings.append((time.perf_counter() - began) * 1000)
    if not page:
        raise RuntimeError("the task list bench found no open tasks")
    return percentile(timings, 0.99)
