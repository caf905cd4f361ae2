"""How a person would walk each procedure's cases, one driver per procedure.

A driver answers one question: given a case's open task, who completes it and
with what form data (and, where the procedure asks for proof, who uploads a
document first). The runner (`drive_case`) does the rest, re-reading the case
whenever a retried request finds its work already done, so the same driver
walks a case from its start or resumes it from wherever it stands.

Update, query and deletion cases are about a customer entered by a finished
collection case: `CaseRun.customer` is the index of that customer's collection
form (`collection_form(customer)`), so the driver can identify them the way the
front desk does, by ID number (or, for a query, by mobile).

To cover a new procedure, add a driver class and list it in DRIVERS; the
production test drives every installed procedure that has one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.production.client import FailoverClient, Stats

# A small, valid PDF header is all the document check needs to accept the file as a PDF.
PROOF_PDF = b"%PDF-1.7\n% signed customer request\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@dataclass
class CaseRun:
    """One case the test drives: which plan it follows and what has happened so far."""

    procedure: str
    index: int
    plan: str
    case_id: str = ""
    customer: int = -1  # collection-form index of the customer the case is about
    rounds: dict[str, int] = field(default_factory=dict)
    documents: list[str] = field(default_factory=list)


class Driver:
    """What every driver has: people, plans, the outcome each plan ends in."""

    procedure: ClassVar[str]
    starters: ClassVar[tuple[str, ...]] = ("frontdesk", "frontdesk2")
    reviewers: ClassVar[tuple[str, ...]] = ("reviewer", "reviewer2")
    others: ClassVar[tuple[str, ...]] = ()
    plans: ClassVar[tuple[str, ...]]
    outcomes: ClassVar[dict[str, str]]
    # The plan for a case whose start reply was lost (walked to its end afterwards):
    # one that changes no customer's data.
    orphan_plan: ClassVar[str]
    needs_customer: ClassVar[bool] = True

    @property
    def users(self) -> tuple[str, ...]:
        return self.starters + self.reviewers + self.others

    def plan(self, index: int) -> str:
        return self.plans[index % len(self.plans)]

    def starter(self, run: CaseRun) -> str:
        return self.starters[run.index % len(self.starters)]

    def reviewer(self, run: CaseRun) -> str:
        return self.reviewers[run.index % len(self.reviewers)]

    def upload_before(self, run: CaseRun, task_name: str) -> str | None:
        """Who uploads a proof document before this task is completed (None: nobody)."""
        return None

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError


class CollectionDriver(Driver):
    """Collection (mission 3.1): consent, form, review by another person."""

    procedure = "collection"
    plans = ("approve", "approve", "reject", "return", "no_consent")
    outcomes: ClassVar[dict[str, str]] = {
        "approve": "entered",
        "return": "entered",
        "reject": "rejected",
        "no_consent": "no_consent",
    }
    orphan_plan = "approve"
    needs_customer = False

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        desk, reviewer = self.starter(run), self.reviewer(run)
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


class UpdateDriver(Driver):
    """Update (mission 3.3): change request, review (maybe asking for more proof), apply."""

    procedure = "update"
    plans = ("approve", "approve", "reject", "more_proof")
    outcomes: ClassVar[dict[str, str]] = {
        "approve": "updated",
        "more_proof": "updated",
        "reject": "rejected",
    }
    orphan_plan = "reject"

    def upload_before(self, run: CaseRun, task_name: str) -> str | None:
        return self.starter(run) if task_name == "provide_more_proof" else None

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        desk, reviewer = self.starter(run), self.reviewer(run)
        if task_name == "file_change_request":
            return desk, change_request(run)
        if task_name == "review_change":
            if run.plan == "more_proof" and run.rounds.get("review_change", 0) == 0:
                return reviewer, {
                    "decision": "more_proof",
                    "review_reason": "need the signed request",
                }
            if run.plan == "reject":
                return reviewer, {"decision": "reject", "review_reason": "proof does not match"}
            return reviewer, {"decision": "approve"}
        if task_name == "provide_more_proof":
            return desk, {"documents": run.documents[-1:], "note": "signed request attached"}
        raise AssertionError(f"update has no task {task_name!r}")


class QueryDriver(Driver):
    """Query (mission 3.4): a department asks with a purpose; a reviewer grants or refuses."""

    procedure = "query"
    starters = ("dept",)
    plans = ("approve", "narrow", "approve", "reject")
    outcomes: ClassVar[dict[str, str]] = {
        "approve": "granted",
        "narrow": "granted",
        "reject": "refused",
    }
    orphan_plan = "reject"
    fields: ClassVar[list[str]] = ["name", "mobile", "address"]

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        if task_name == "file_query_request":
            return self.starter(run), query_request(run, self.fields)
        if task_name == "review_query":
            reviewer = self.reviewer(run)
            if run.plan == "reject":
                return reviewer, {"decision": "reject", "reason": "purpose not specific enough"}
            approved = self.fields[:1] if run.plan == "narrow" else self.fields
            return reviewer, {"decision": "approve", "approved_fields": approved}
        raise AssertionError(f"query has no task {task_name!r}")


class DeletionDriver(Driver):
    """Deletion (mission 3.5): request with proof, two approvals, then the deletion worker."""

    procedure = "deletion"
    others = ("officer",)
    plans = ("delete", "delete", "refuse_review", "delete", "refuse_approval")
    outcomes: ClassVar[dict[str, str]] = {
        "delete": "deleted",
        "refuse_review": "refused",
        "refuse_approval": "refused",
    }
    orphan_plan = "refuse_review"

    def upload_before(self, run: CaseRun, task_name: str) -> str | None:
        # The proof can be attached once the filed request has identified the customer.
        return self.starter(run) if task_name == "review_deletion" else None

    def act(self, run: CaseRun, task_name: str) -> tuple[str, dict[str, Any]]:
        if task_name == "file_deletion_request":
            return self.starter(run), identify(run.customer) | {"reason": "withdrawn_consent"}
        if task_name == "review_deletion":
            if run.plan == "refuse_review":
                return self.reviewer(run), {
                    "decision": "reject",
                    "review_reason": "proof not genuine",
                }
            return self.reviewer(run), {"decision": "approve"}
        if task_name == "approve_deletion":
            if run.plan == "refuse_approval":
                return "officer", {
                    "decision": "reject",
                    "approval_reason": "retention period applies",
                }
            return "officer", {"decision": "approve"}
        raise AssertionError(f"deletion has no task {task_name!r}")


DRIVERS: dict[str, Driver] = {
    driver.procedure: driver
    for driver in (CollectionDriver(), UpdateDriver(), QueryDriver(), DeletionDriver())
}


def consent(given: bool) -> dict[str, Any]:
    return {
        "purpose": "service_contract",
        "consent_text_version": "v3.1",
        "consent_given": given,
        "sensitive_consent_given": given,
    }


def collection_form(index: int) -> dict[str, Any]:
    """A distinct, valid customer per index below 21000 (checksummed resident ID, mobile)."""
    return {
        "name": f"测试客户{index:05d}",
        "id_type": "resident_id",
        "id_number": resident_id(index),
        "mobile": f"139{index:08d}",
        "address": f"北京市朝阳区建国路{index + 1}号",
    }


def identify(customer: int) -> dict[str, str]:
    return {"id_type": "resident_id", "id_number": resident_id(customer)}


def change_request(run: CaseRun) -> dict[str, Any]:
    """A new address (and every third time a new name); the mobile never changes."""
    request = identify(run.customer) | {
        "new_address": f"上海市浦东新区世纪大道{run.customer + 1}号",
        "reason": "customer moved house",
    }
    if run.index % 3 == 0:
        request["new_name"] = f"更名客户{run.customer:05d}"
    return request


def query_request(run: CaseRun, fields: list[str]) -> dict[str, Any]:
    """By ID number, or every other time by mobile."""
    lookup: dict[str, Any] = (
        {"lookup_by": "mobile", "mobile": collection_form(run.customer)["mobile"]}
        if run.index % 2
        else {"lookup_by": "id_number", **identify(run.customer)}
    )
    return lookup | {
        "fields": fields,
        "purpose": "billing_dispute",
        "purpose_detail": "customer disputes the October invoice",
        "legal_basis": "contract",
    }


def resident_id(index: int) -> str:
    """A GB 11643 resident ID number with a valid check character."""
    body = f"110105{1960 + index % 40}{1 + index % 12:02d}{1 + index % 28:02d}{index % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def drive_case(client: FailoverClient, driver: Driver, run: CaseRun, stats: Stats) -> dict:
    """Start a case (unless it has an id already) and complete its tasks.

    Returns the case once it has ended, or once it has no open task left but
    still runs: it then waits for a worker (an approved deletion), and
    `wait_for_workers` collects it.
    """
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
        if summary["status"] == "completed" or not summary["tasks"]:
            return summary
        task = summary["tasks"][0]
        uploader = driver.upload_before(run, task["name"])
        if uploader:
            run.documents.append(upload_proof(client, run, uploader))
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


def upload_proof(client: FailoverClient, run: CaseRun, user: str) -> str:
    path = f"/api/v1/cases/{run.case_id}/documents"
    reply = client.upload(path, user, run.index, f"proof-{run.index}.pdf", PROOF_PDF)
    assert reply.status == 201, (path, reply.status, reply.body)
    return str(reply.body["id"])


def read_case(client: FailoverClient, driver: Driver, run: CaseRun) -> dict:
    reply = client.call("GET", f"/api/v1/cases/{run.case_id}", driver.starter(run), run.index)
    assert reply.status == 200, reply.body
    return reply.body


def wait_for_workers(
    client: FailoverClient, drivers: dict[str, Driver], runs: list[CaseRun], timeout: float
) -> dict[str, dict]:
    """The final summary of every case; polls the ones still waiting for a worker.

    The deadline only bounds a broken run (a job that is never redelivered);
    a healthy one needs the broker's visibility timeout plus a few seconds.
    """
    final: dict[str, dict] = {}
    waiting = list(runs)
    deadline = time.monotonic() + timeout
    while waiting:
        still = []
        for run in waiting:
            summary = read_case(client, drivers[run.procedure], run)
            if summary["status"] == "completed":
                final[run.case_id] = summary
            else:
                assert not summary["tasks"], (run, summary["tasks"])
                still.append(run)
        waiting = still
        if waiting:
            assert time.monotonic() < deadline, f"{len(waiting)} cases still wait for a worker"
            time.sleep(0.5)
    return final
