"""`datasteward bench`: measure throughput, latency and storage on a scratch database."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from service.config import Settings

SUMMARY = (
    ("engine_cases_per_s", "bare engine, collection cases/s (one core)"),
    ("service_cases_per_s", "service, collection cases/s (all cores)"),
    ("service_to_engine_ratio", "service / engine"),
    ("http_completions_per_s", "HTTP task completions/s, saturating (16 clients)"),
    ("http_complete_p50_ms", "HTTP task completion p50 at saturation, ms"),
    ("http_complete_p99_ms", "HTTP task completion p99 at saturation, ms"),
    ("http_paced_completions_per_s", "HTTP paced load, completions/s (half the above)"),
    ("http_paced_p50_ms", "HTTP task completion p50 at the paced load, ms"),
    ("http_paced_p99_ms", "HTTP task completion p99 at the paced load, ms"),
    ("task_list_p99_ms", "task list p99, ms"),
    ("open_tasks", "open tasks in the database"),
    ("bytes_per_case", "database growth per case, bytes"),
    ("audit_append_per_s", "audit appends/s"),
    ("audit_verify_per_s", "audit records verified/s"),
    ("shred_per_s", "subjects shredded/s"),
    ("loop_iteration_ms_at_10", "correction loop, ms per iteration at 10"),
    ("loop_iteration_ms_at_last", "correction loop, ms per iteration at the last"),
)


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser(
        "bench", help="measure throughput, latency and storage on a scratch database"
    )
    bench.add_argument(
        "--database",
        default="sqlite",
        help="'sqlite' (a temp dir) or a PostgreSQL server URL (a scratch database is "
        "created there and dropped afterwards)",
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    bench.add_argument("--json", action="store_true", help="one JSON object on the last line")
    # Test suites run the whole bench with the smallest sizes.
    bench.add_argument("--sizes", choices=("tiny", "quick", "full"), help=argparse.SUPPRESS)
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from service.bench.runner import SIZES, run_bench

    name = args.sizes or ("quick" if args.quick else "full")
    # A terminated bench still drops its scratch database (the finally blocks run).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    began = time.perf_counter()
    result = run_bench(args.database, SIZES[name], settings)
    result["run"] = name
    result["seconds"] = round(time.perf_counter() - began, 1)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(summary(result))
    return 0


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"Datasteward bench ({result['run']}) on {result['database']}, {result['cores']} cores, "
        f"SpiffWorkflow {result['spiffworkflow_version']}, {result['seconds']} s"
    ]
    for key, label in SUMMARY:
        value = result.get(key)
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        if value is None:
            shown = f"n/a ({result.get(key + '_reason', 'not measured')})"
        lines.append(f"  {label:48} {shown}")
    extra = sorted(k for k in result if "_with_" in k)
    lines.extend(f"  {k:48} {result[k]:,.2f}" for k in extra)
    return "\n".join(lines)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    sys.exit(128 + signum)
