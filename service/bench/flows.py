"""A collection case driven through the use-case layer, as the counter and the review desk do it."""

from __future__ import annotations

import itertools
import time
from datetime import date, timedelta
from typing import Any

from service.access.service import Actor
from service.cases.service import complete_task, start_case
from service.deps import Deps

# Made-up subscribers: valid check digits, no real person, a different one per case
# (the service refuses to collect a customer already on record). Each process
# draws from its own block of numbers: see use_subscriber_block.
_AREA = "110105"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_BLOCK = 1_000_000
_numbers = itertools.count()


def use_subscriber_block(block: int) -> None:
    """Give this process subscriber numbers no other bench process uses."""
    global _numbers
    _numbers = itertools.count(block * _BLOCK)


def resident_id(n: int) -> str:
    """A well-formed resident ID number (GB 11643): area, birth date, sequence, check."""
    born = date(1950, 1, 1) + timedelta(days=n // 1000 % 18_000)
    body = f"{_AREA}{born:%Y%m%d}{n % 1000:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def subscriber_form() -> dict[str, str]:
    n = next(_numbers)
    return {
        "name": "测试用户",
        "id_type": "resident_id",
        "id_number": resident_id(n),
        "mobile": f"139{n:08d}",
        "address": "北京市朝阳区建国路88号",
    }


CONSENT = {
    "purpose": "service_contract",
    "consent_text_version": "v3.1",
    "consent_given": True,
    "sensitive_consent_given": True,
}
APPROVE = {"decision": "approve"}
RETURN = {"decision": "return", "reason": "please check the address"}


def task_named(summary: dict[str, Any], name: str) -> str:
    return next(t["id"] for t in summary["tasks"] if t["name"] == name)


def run_collection(deps: Deps, desk: Actor, reviewer: Actor) -> dict[str, Any]:
    """Start, record consent, fill in the form, approve: one complete case."""
    case = start_case(deps, desk, "collection")
    case = complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    case = complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())
    case = complete_task(deps, reviewer, task_named(case, "review"), APPROVE)
    if case["status"] != "completed":
        raise RuntimeError(f"the bench case did not complete: {case['status']}")
    return case


def run_until_review(deps: Deps, desk: Actor) -> dict[str, Any]:
    """A case waiting for its reviewer: the open task a task list shows."""
    case = start_case(deps, desk, "collection")
    case = complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    return complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())


def run_correction_loop(deps: Deps, desk: Actor, reviewer: Actor, iterations: int) -> list[float]:
    """A case returned for correction `iterations` times, then approved.

    Returns the seconds each iteration (fill in the form + review) took.
    """
    case = run_until_review(deps, desk)
    seconds = []
    for _ in range(iterations):
        began = time.perf_counter()
        case = complete_task(deps, reviewer, task_named(case, "review"), RETURN)
        case = complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())
        seconds.append(time.perf_counter() - began)
    case = complete_task(deps, reviewer, task_named(case, "review"), APPROVE)
    if case["status"] != "completed":
        raise RuntimeError("the correction loop case did not complete")
    return seconds
