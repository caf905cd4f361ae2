"""A case that hands work to a background job waits, and the job's message resumes it."""

from __future__ import annotations

from typing import Any

import pytest

from service.access.service import SYSTEM, Actor, roles_of
from service.cases import service as cases
from service.jobs import enqueue_job


@pytest.fixture
def desk(deps, users) -> Actor:
    with deps.unit_of_work() as uow:
        return Actor(users["frontdesk"], "frontdesk", roles_of(uow.session, users["frontdesk"]))


@pytest.fixture
def job_connector(deps):
    calls: list[dict[str, Any]] = []

    def start_job(ctx, params):
        job_id = enqueue_job(ctx.uow, ctx.deps, "datasteward.test.job", {"case_id": ctx.case_id})
        calls.append({"params": params, "job_id": job_id})
        return {"job_id": job_id}

    deps.engine.connectors.register("test.start_job", start_job)
    return calls


def _waiting_case(deps, desk, install_procedure, job_connector) -> dict:
    install_procedure("waits_for_job")
    case = cases.start_case(deps, desk, "waits_for_job")
    return cases.complete_task(deps, desk, case["tasks"][0]["id"], {"note": "go"})


def test_case_waits_for_its_job_and_the_job_is_published_after_commit(
    deps, desk, install_procedure, job_connector
):
    waiting = _waiting_case(deps, desk, install_procedure, job_connector)
    assert waiting["status"] == "running"
    assert waiting["tasks"] == []
    assert job_connector[0]["params"] == {"note": "go"}
    published = deps.extras["published"]
    assert [(job_id, name) for job_id, name, _ in published] == [
        (job_connector[0]["job_id"], "datasteward.test.job")
    ]


def test_the_jobs_message_resumes_the_case_once(deps, desk, install_procedure, job_connector):
    waiting = _waiting_case(deps, desk, install_procedure, job_connector)
    assert cases.resume_case(deps, SYSTEM, waiting["id"], "job_done", {"certificate": "c-1"})
    assert not cases.resume_case(deps, SYSTEM, waiting["id"], "job_done", {"certificate": "c-1"})
    with deps.unit_of_work() as uow:
        summary = cases.case_summary(uow.session, uow.session.get(cases.Case, waiting["id"]))
    assert [t["name"] for t in summary["tasks"]] == ["confirm"]
    done = cases.complete_task(deps, desk, summary["tasks"][0]["id"], {"note": "ok"})
    assert (done["status"], done["outcome"]) == ("completed", "finished")


def test_a_message_the_case_does_not_wait_for_changes_nothing(
    deps, desk, install_procedure, job_connector
):
    waiting = _waiting_case(deps, desk, install_procedure, job_connector)
    assert not cases.resume_case(deps, SYSTEM, waiting["id"], "something_else", {})
    with deps.unit_of_work() as uow:
        assert uow.session.get(cases.Case, waiting["id"]).lock_version == waiting["version"]
