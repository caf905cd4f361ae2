"""The bare engine's cost per correction-loop iteration as a case's history grows.

    .venv/bin/python scripts/loop_engine_cost.py [iterations]

The shipped collection diagram in memory (no database), returned for
correction ``iterations`` times, with serialize and restore at every wait as
the service does: the part of the bench's `loop_iteration_ms_*` figures that
is SpiffWorkflow's own (it keeps every completed task in the case's tree).
"""

from __future__ import annotations

import sys
import time
import uuid

from service.bench.engine_bench import collection_engine
from service.bench.flows import APPROVE, CONSENT, RETURN


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    engine, diagram = collection_engine("processes")
    run = engine.start(diagram, {"case_id": str(uuid.uuid4())}, None)

    def step(data: dict) -> None:
        nonlocal run
        run = engine.restore(diagram, run.serialize())
        (task,) = run.ready_tasks()
        run.complete(task.id, data, None)

    subject = {"subject": "sub_" + uuid.uuid4().hex}
    step(CONSENT)
    step(subject)
    seconds = []
    for _ in range(iterations):
        began = time.perf_counter()
        step(RETURN)
        step(subject)
        seconds.append(time.perf_counter() - began)
    step(APPROVE)
    early = seconds[8:13] or seconds
    late = seconds[-5:]
    print(
        f"engine ms per iteration: {1000 * sum(early) / len(early):.1f} at 10, "
        f"{1000 * sum(late) / len(late):.1f} at {iterations}; "
        f"state {len(run.serialize()) / 1024:.0f} KiB; completed={run.completed}"
    )


if __name__ == "__main__":
    main()
