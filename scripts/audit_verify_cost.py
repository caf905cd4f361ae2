"""Audit verification speed on a log of synthetic records, before and after ANALYZE.

    .venv/bin/python scripts/audit_verify_cost.py [sqlite | postgresql+psycopg://...] [records]

Appends the records through the service (2,000 per transaction, so the chain
is real) in a scratch database created and dropped here, then verifies the
whole log twice: first as the log stands (on PostgreSQL the planner has no
statistics for the fresh table yet, as after a restore), then after ANALYZE.
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import text

from service.access.service import Actor
from service.audit.service import Event, record_many
from service.audit.verify import verify_live
from service.bench.scratch import create_scratch
from service.bootstrap import build_deps
from service.config import Settings
from service.signing import load_signing_key

CLERK = Actor(7, "frontdesk", frozenset({"front_desk"}), "req-1", "10.0.0.7")
PER_TRANSACTION = 2_000


def main() -> None:
    database = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    scratch = create_scratch(database, Settings())
    try:
        deps = build_deps(scratch.settings)
        load_signing_key(deps.settings, create=True)
        began = time.perf_counter()
        for batch in range(records // PER_TRANSACTION):
            events = [
                Event(
                    action="task.complete",
                    procedure="collection",
                    case_id=f"case-{batch}-{n}",
                    subject=f"sub_{n % 97:032x}",
                    fields=["mobile", "address"],
                )
                for n in range(PER_TRANSACTION)
            ]
            with deps.unit_of_work() as uow:
                record_many(uow.session, CLERK, events, deps.now())
                uow.commit()
        print(f"appended {records} records in {time.perf_counter() - began:.1f} s")
        for label in ("as written", "after ANALYZE"):
            if label == "after ANALYZE" and deps.db.is_postgres:
                with deps.db.engine.begin() as conn:
                    conn.execute(text("ANALYZE audit_records"))
            report = verify_live(deps)
            rate = report.records / report.seconds
            print(f"verify {label}: {rate:,.0f} records/s (ok={report.ok}, {scratch.kind})")
        deps.db.dispose()
    finally:
        scratch.drop()


if __name__ == "__main__":
    main()
