"""What one collection case costs: statements, and CPU in this process and in PostgreSQL.

    .venv/bin/python scripts/case_cost.py [sqlite | postgresql+psycopg://...] [cases]

Runs on a scratch database like `datasteward bench` (created and dropped
here), one process, one case at a time: the figures are per case, not
throughput. The statements are counted on one case after warm-up, by text;
PostgreSQL's CPU is read from /proc for every process named postgres on this
machine (so run it on a quiet machine with the server local).

On PostgreSQL it also prints the floor a case's round trips set: each
statement, BEGIN and COMMIT is one round trip, and the CPU a bare
``SELECT 1`` costs in this process and in the server, measured here on the
same connection kind, is what any round trip costs at least.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Engine

from service.bench.flows import run_collection
from service.bench.scratch import create_actors, create_scratch
from service.bootstrap import build_deps
from service.config import Settings


def postgres_cpu_seconds() -> float:
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if not comm.read().startswith("postgres"):
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def round_trip_floor(engine: Engine, times: int = 5000) -> tuple[float, float]:
    """CPU seconds one bare round trip costs here and in PostgreSQL, on the driver directly."""
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for _ in range(200):
            cursor.execute("SELECT 1")
            cursor.fetchall()
        cpu, server = time.process_time(), postgres_cpu_seconds()
        for _ in range(times):
            cursor.execute("SELECT 1")
            cursor.fetchall()
        return (time.process_time() - cpu) / times, (postgres_cpu_seconds() - server) / times


def main() -> None:
    database = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    scratch = create_scratch(database, Settings())
    try:
        deps = build_deps(scratch.settings)
        desk = create_actors(deps, "cost_desk_", ["front_desk"], 1)[0]
        reviewer = create_actors(deps, "cost_reviewer_", ["reviewer"], 1)[0]
        for _ in range(10):
            run_collection(deps, desk, reviewer)

        statements: collections.Counter[str] = collections.Counter()
        transactions = collections.Counter[str]()

        def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
            statements[" ".join(statement.split())[:100]] += 1

        def begun(_conn) -> None:  # noqa: ANN001
            transactions["BEGIN"] += 1

        def committed(_conn) -> None:  # noqa: ANN001
            transactions["COMMIT"] += 1

        listeners: list[tuple[str, Callable[..., None]]] = [
            ("before_cursor_execute", count),
            ("begin", begun),
            ("commit", committed),
        ]
        for name, listener in listeners:
            event.listen(Engine, name, listener)
        run_collection(deps, desk, reviewer)
        for name, listener in listeners:
            event.remove(Engine, name, listener)
        for text, times in statements.most_common():
            print(f"{times:3d}  {text}")
        print(f"statements per case: {sum(statements.values())}")
        round_trips = sum(statements.values()) + sum(transactions.values())
        print(
            f"round trips per case: {round_trips} ({sum(statements.values())} statements, "
            f"{transactions['BEGIN']} BEGIN, {transactions['COMMIT']} COMMIT)"
        )

        began, cpu, server = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
        for _ in range(cases):
            run_collection(deps, desk, reviewer)
        wall = (time.perf_counter() - began) / cases
        cpu = (time.process_time() - cpu) / cases
        server = (postgres_cpu_seconds() - server) / cases
        print(
            f"per case: {1000 * wall:.2f} ms wall, {1000 * cpu:.2f} ms CPU here, "
            f"{1000 * server:.2f} ms CPU in PostgreSQL ({cases} cases, {scratch.kind})"
        )
        if deps.db.is_postgres:
            here, there = round_trip_floor(deps.db.engine)
            print(
                f"floor per round trip (SELECT 1): {1e6 * here:.0f} us CPU here, "
                f"{1e6 * there:.0f} us in PostgreSQL; {round_trips} round trips: "
                f"{1000 * round_trips * here:.2f} + {1000 * round_trips * there:.2f} ms per case"
            )
        deps.db.dispose()
    finally:
        scratch.drop()


if __name__ == "__main__":
    main()
