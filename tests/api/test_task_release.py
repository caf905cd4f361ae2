"""A claimed task never stays stuck: its claimer releases it, a supervisor releases it with a
reason (within their scope), and locking an account releases every task it held."""

from __future__ import annotations

from sqlalchemy import select

from service.access.service import RoleScope
from service.audit.models import AuditRecord
from service.cases.models import Task
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import add_user


def _claimed_review(api, desk_name: str = "frontdesk") -> tuple[str, str]:
    """A collection case (started by `desk_name`) whose review the reviewer has claimed:
    (case id, task id)."""
    desk, reviewer = api(desk_name), api("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    task_id = desk.task_of(case["id"], "review")
    assert reviewer.post(f"/api/v1/tasks/{task_id}/claim").status == 200
    return case["id"], task_id


def _supervisor_of(deps, username: str, branch: str) -> None:
    add_user(
        deps,
        username,
        ["supervisor"],
        branch=branch,
        scopes=[RoleScope("supervisor", None, branch)],
    )


def _task(deps, task_id: str) -> tuple[str, int | None]:
    with deps.unit_of_work() as uow:
        task = uow.session.get_one(Task, task_id)
        return task.status, task.assignee_id


def _records(deps, action: str) -> list[tuple]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(
                AuditRecord.actor, AuditRecord.outcome, AuditRecord.reason, AuditRecord.detail
            ).where(AuditRecord.action == action)
        )
        return [tuple(row) for row in rows]


def test_a_supervisor_releases_a_task_someone_else_holds_with_a_reason(api, deps, users):
    add_user(deps, "supervisor", ["supervisor"])
    _, task_id = _claimed_review(api)
    supervisor = api("supervisor")
    path = f"/api/v1/tasks/{task_id}/unclaim"

    no_reason = supervisor.post(path)
    assert no_reason.status == 422, no_reason.body
    assert no_reason.body["error"]["details"][0]["field"] == "reason"
    blank = supervisor.post(path, {"reason": "   "})
    assert blank.status == 422
    assert _task(deps, task_id) == ("claimed", users["reviewer"])

    released = supervisor.post(path, {"reason": "reviewer on leave until Monday"})
    assert released.status == 200, released.body
    assert _task(deps, task_id) == ("open", None)
    assert _records(deps, "task.unclaim") == [
        (
            "supervisor",
            "done",
            "reviewer on leave until Monday",
            {"released_from": users["reviewer"]},
        )
    ]
    claimable = api("reviewer2").get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert task_id in [t["id"] for t in claimable]
    assert supervisor.post(path, {"reason": "again"}).status == 409  # nothing to release


def test_others_may_not_release_a_claim_that_is_not_theirs(api, deps, users):
    _, task_id = _claimed_review(api)
    taken = api("reviewer2").post(f"/api/v1/tasks/{task_id}/unclaim", {"reason": "mine now"})
    assert taken.status == 409, taken.body
    assert _task(deps, task_id) == ("claimed", users["reviewer"])
    assert _records(deps, "task.unclaim") == []


def test_a_supervisor_of_another_branch_is_refused_and_the_refusal_audited(api, deps, users):
    _supervisor_of(deps, "south_sup", "south")
    add_user(deps, "north_desk", ["front_desk"], branch="north")
    _, task_id = _claimed_review(api, "north_desk")
    refused = api("south_sup").post(f"/api/v1/tasks/{task_id}/unclaim", {"reason": "stuck"})
    assert refused.status == 403, refused.body
    assert _task(deps, task_id) == ("claimed", users["reviewer"])
    ((actor, outcome, _, _),) = _records(deps, "task.unclaim")
    assert (actor, outcome) == ("south_sup", "refused")


def test_the_claimer_still_releases_their_own_task_without_a_reason(api, deps):
    _, task_id = _claimed_review(api)
    assert api("reviewer").post(f"/api/v1/tasks/{task_id}/unclaim").status == 200
    assert _task(deps, task_id) == ("open", None)


def test_locking_an_account_releases_the_tasks_it_held(api, deps, users):
    _, task_id = _claimed_review(api)
    locked = api("admin").post(f"/api/v1/users/{users['reviewer']}/lock", {"reason": "left"})
    assert locked.status == 204, locked.body
    assert _task(deps, task_id) == ("open", None)
    ((_, _, _, detail),) = _records(deps, "user.lock")
    assert detail == {"user_id": users["reviewer"], "tasks_released": 1}
    claimable = api("reviewer2").get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert task_id in [t["id"] for t in claimable]


def test_a_supervisor_sees_what_staff_in_their_scope_hold(api, deps, users, clock):
    add_user(deps, "supervisor", ["supervisor"])
    _supervisor_of(deps, "south_sup", "south")
    claimed_at = clock().isoformat()
    _, task_id = _claimed_review(api)
    clock.advance(hours=2)
    _, mine_too = _claimed_review(api)

    held = api("supervisor").get("/api/v1/tasks?scope=held")
    assert held.status == 200, held.body
    by_id = {t["id"]: t for t in held.body["tasks"]}
    assert set(by_id) == {task_id, mine_too}
    assert by_id[task_id]["assignee"] == "reviewer"
    assert by_id[task_id]["assignee_id"] == users["reviewer"]
    assert by_id[task_id]["claimed_at"] == claimed_at
    # Queue order, and paged by position like the other lists.
    assert [t["id"] for t in held.body["tasks"]] == [task_id, mine_too]
    first = api("supervisor").get("/api/v1/tasks?scope=held&limit=1").body
    assert [t["id"] for t in first["tasks"]] == [task_id]
    rest = api("supervisor").get(f"/api/v1/tasks?scope=held&after={first['next_after']}").body
    assert [t["id"] for t in rest["tasks"]] == [mine_too]

    # A supervisor of another branch sees none of them; staff may not look at all.
    assert api("south_sup").get("/api/v1/tasks?scope=held").body["tasks"] == []
    refused = api("reviewer2").get("/api/v1/tasks?scope=held")
    assert refused.status == 403, refused.body
    assert "supervisor" in refused.body["error"]["message"]

    api("supervisor").post(f"/api/v1/tasks/{task_id}/unclaim", {"reason": "on leave"})
    held = api("supervisor").get("/api/v1/tasks?scope=held").body["tasks"]
    assert [t["id"] for t in held] == [mine_too]
    claimable = api("reviewer2").get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert next(t for t in claimable if t["id"] == task_id)["claimed_at"] is None


def test_a_supervisor_sees_their_own_branch_only(api, deps, users):
    _supervisor_of(deps, "north_sup", "north")
    add_user(deps, "north_desk", ["front_desk"], branch="north")
    _, north_task = _claimed_review(api, "north_desk")
    _claimed_review(api)  # a case of no branch: not theirs

    held = api("north_sup").get("/api/v1/tasks?scope=held").body["tasks"]
    assert [t["id"] for t in held] == [north_task]


def test_locking_an_account_clears_the_claims_it_held(api, deps, users):
    add_user(deps, "supervisor", ["supervisor"])
    _, task_id = _claimed_review(api)
    api("admin").post(f"/api/v1/users/{users['reviewer']}/lock", {"reason": "left"})
    assert api("supervisor").get("/api/v1/tasks?scope=held").body["tasks"] == []
    with deps.unit_of_work() as uow:
        assert uow.session.get_one(Task, task_id).claimed_at is None


def test_a_supervisor_opens_the_case_of_a_task_they_see_held(api, deps, users):
    """Its case page is where they extend the deadline or take the task back; not escalated."""
    _supervisor_of(deps, "north_sup", "north")
    add_user(deps, "north_desk", ["front_desk"], branch="north")
    north_case, _ = _claimed_review(api, "north_desk")
    other_case, _ = _claimed_review(api)
    supervisor = api("north_sup")
    shown = supervisor.get(f"/api/v1/cases/{north_case}")
    assert shown.status == 200, shown.body
    assert [t["name"] for t in shown.body["tasks"]] == ["review"]
    assert supervisor.get(f"/api/v1/cases/{other_case}").status == 403
    # The task page stays with those who work it (it shows the customer's data).
    assert supervisor.get(f"/api/v1/tasks/{shown.body['tasks'][0]['id']}").status == 403
    # A data officer extends deadlines too: every case in their (unscoped) reach.
    assert api("officer").get(f"/api/v1/cases/{other_case}").status == 200
    assert api("dept").get(f"/api/v1/cases/{other_case}").status == 403
