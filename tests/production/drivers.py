"""How a person would walk each procedure's cases, one driver per procedure.

A driver answers one question: given a case's open task, who completes it and
with what form data. The runner (`drive_case`) does the rest, re-reading the
case whenever a retried request finds its work already done, so the same
driver walks a case from its start or resumes it from wherever it stands.

To cover a new procedure, add a driver class and list it in DRIVERS; the
production test drives every installed procedure that has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.production.client import FailoverClient, Stats


@dataclass
class CaseRun:
    """One case the test drives: which plan it follows and what has happened so far."""

    procedure: str
    index: int
    plan: str
    case_id: str = ""
    rounds: dict[str, int] = field(default_factory=dict)


class CollectionDriver:
    """Collection (mission 3.1): consent, form, review by another person."""

    procedure = "collection"
    users: ClassVar[tuple[str, ...]] = ("frontdesk", "frontdesk2", "reviewer", "reviewer2")
    plans: ClassVar[tuple[str, ...]] = ("approve", "approve", "reject", "return", "no_consent")
    outcomes: ClassVar[dict[str, str]] = {
        "approve": "entered",
        "return": "entered",
        "reject": "rejected",
        "no_consent": "no_consent",
    }

    def plan(self, index: int) -> str:
        return self.plans[index % len(self.plans)]

    def starter(self, run: CaseRun) -> str:
        return self.users[run.index % 2]

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        desk, reviewer = self.users[run.index % 2], self.users[2 + run.index % 2]
        if task_name == "record_consent":
            return desk, consent(run.plan != "no_consent")
        if task_name == "fill_form":
            return desk, collection_form(run.index)
        if task_name == "review":
            if run.plan == "return" and run.rounds.get("review", 0) == 0:
                return reviewer, {"decision": "return", "reason": "address incomplete"}
            if run.plan == "reject":
                return reviewer, {"decision": "reject", "reason": "ID card photo unreadable"}
            return reviewer, {"decision": "approve", "reason": ""}
        raise AssertionError(f"collection has no task {task_name!r}")


DRIVERS: dict[str, Any] = {"collection": CollectionDriver()}


def consent(given: bool) -> dict[str, Any]:
    return {
        "purpose": "service_contract",
        "consent_text_version": "v3.1",
        "consent_given": given,
        "sensitive_consent_given": given,
    }


def collection_form(index: int) -> dict[str, Any]:
    """A distinct, valid customer per case (checksummed resident ID, mainland mobile)."""
    return {
        "name": f"测试客户{index:04d}",
        "id_type": "resident_id",
        "id_number": resident_id(index),
        "mobile": f"139{index:08d}",
        "address": f"北京市朝阳区建国路{index + 1}号",
    }


def resident_id(index: int) -> str:
    """A GB 11643 resident ID number with a valid check character."""
    body = f"110105{1960 + index % 40}{1 + index % 12:02d}{1 + index % 28:02d}{index % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def drive_case(client: FailoverClient, driver: Any, run: CaseRun, stats: Stats) -> dict:
    """Start a case (unless it has an id already) and complete its tasks until it ends."""
    prefer = run.index
    if not run.case_id:
        reply = client.call(
            "POST", "/api/v1/cases", driver.starter(run), prefer, {"procedure": run.procedure}
        )
        assert reply.status == 201, reply.body
        if reply.retried:
            stats.add("retried_starts")
        run.case_id, summary = reply.body["id"], reply.body
    else:
        summary = read_case(client, driver, run)
    for _step in range(50):
        if summary["status"] == "completed":
            return summary
        task = summary["tasks"][0]
        user, data = driver.act(run, task["name"])
        path = f"/api/v1/tasks/{task['id']}/complete"
        reply = client.call("POST", path, user, prefer, {"data": data})
        if reply.status == 200:
            run.rounds[task["name"]] = run.rounds.get(task["name"], 0) + 1
            summary = reply.body
        elif reply.status == 409 and reply.retried:
            # The first attempt committed before its replica died: carry on from the case.
            stats.add("conflicts_after_retry")
            run.rounds[task["name"]] = run.rounds.get(task["name"], 0) + 1
            summary = read_case(client, driver, run)
        else:
            raise AssertionError(f"{path} as {user}: {reply.status} {reply.body}")
    raise AssertionError(f"case {run.case_id} did not end in 50 steps")


def read_case(client: FailoverClient, driver: Any, run: CaseRun) -> dict:
    reply = client.call("GET", f"/api/v1/cases/{run.case_id}", driver.starter(run), run.index)
    assert reply.status == 200, reply.body
    return reply.body
