"""A procedure's figures for its periodic review, read from the cases and tasks tables.

Cases per path and outcome; per step the median and 90th percentile time to
complete, the overdue rate, the return rate (the step done again in the same
case) and the rejection rate (cases ending in a rejection decided at this step).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cases.models import Case, Task
from service.clock import aware

MAX_CASES = 20_000  # a quarter of a busy branch; bounds the work of one review


def procedure_figures(
    session: Session, procedure: str, since: datetime, now: datetime
) -> dict[str, Any]:
    cases = list(
        session.execute(
            select(Case.id, Case.status, Case.outcome)
            .where(Case.procedure == procedure, Case.started_at >= since)
            .limit(MAX_CASES)
        ).all()
    )
    case_ids = {c.id for c in cases}
    tasks = [t for t in _tasks(session, procedure, since) if t.case_id in case_ids]
    by_case: dict[str, list[Any]] = defaultdict(list)
    for task in tasks:
        by_case[task.case_id].append(task)
    outcomes = Counter(c.outcome or c.status for c in cases)
    return {
        "period": {"from": since.isoformat(), "to": now.isoformat()},
        "cases": {
            "started": len(cases),
            "running": sum(1 for c in cases if c.status == "running"),
            "completed": sum(1 for c in cases if c.status == "completed"),
        },
        "outcomes": dict(sorted(outcomes.items())),
        "paths": _paths(cases, by_case),
        "steps": _steps(tasks, cases, by_case, now),
    }


def _tasks(session: Session, procedure: str, since: datetime) -> list[Any]:
    return list(
        session.execute(
            select(
                Task.case_id,
                Task.spec_name,
                Task.label,
                Task.status,
                Task.created_at,
                Task.completed_at,
                Task.due_at,
            ).where(Task.procedure == procedure, Task.created_at >= since)
        ).all()
    )


def _paths(cases: list[Any], by_case: dict[str, list[Any]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[tuple[str, ...], str]] = Counter()
    for case in cases:
        steps = [t.spec_name for t in _done_in_order(by_case[case.id])]
        counts[(tuple(steps), case.outcome or case.status)] += 1
    return [
        {"steps": list(steps), "outcome": outcome, "cases": n}
        for (steps, outcome), n in counts.most_common(20)
    ]


def _steps(
    tasks: list[Any], cases: list[Any], by_case: dict[str, list[Any]], now: datetime
) -> dict[str, dict[str, Any]]:
    rejected_at = Counter(_deciding_step(by_case[c.id]) for c in cases if _is_rejection(c))
    grouped: dict[str, list[Any]] = defaultdict(list)
    for task in tasks:
        grouped[task.spec_name].append(task)
    return {name: _step(rows, rejected_at[name], now) for name, rows in sorted(grouped.items())}


def _step(rows: list[Any], rejections: int, now: datetime) -> dict[str, Any]:
    done = [t for t in rows if t.status == "completed" and t.completed_at]
    hours = sorted(
        (aware(t.completed_at) - aware(t.created_at)).total_seconds() / 3600 for t in done
    )
    with_due = [t for t in rows if t.due_at is not None and t.status != "cancelled"]
    overdue = [t for t in with_due if aware(t.completed_at or now) > aware(t.due_at)]
    per_case = Counter(t.case_id for t in done)
    return {
        "label": rows[0].label,
        "done": len(done),
        "open": sum(1 for t in rows if t.status in ("open", "claimed")),
        "median_hours": _percentile(hours, 50),
        "p90_hours": _percentile(hours, 90),
        "overdue_rate": _rate(len(overdue), len(with_due)),
        "return_rate": _rate(sum(n - 1 for n in per_case.values()), len(done)),
        "rejection_rate": _rate(rejections, len(done)),
    }


def _done_in_order(tasks: list[Any]) -> list[Any]:
    done = [t for t in tasks if t.status == "completed" and t.completed_at]
    return sorted(done, key=lambda t: aware(t.completed_at))


def _deciding_step(tasks: list[Any]) -> str | None:
    done = _done_in_order(tasks)
    return done[-1].spec_name if done else None


def _is_rejection(case: Any) -> bool:
    return case.status == "completed" and "reject" in (case.outcome or "")


def _percentile(sorted_values: list[float], percent: int) -> float | None:
    """Nearest-rank percentile; None when there is nothing to measure."""
    if not sorted_values:
        return None
    rank = max(1, -(-percent * len(sorted_values) // 100))
    return round(sorted_values[rank - 1], 2)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None
