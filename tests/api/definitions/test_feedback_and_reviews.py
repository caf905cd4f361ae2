"""Feedback from staff and the periodic review, through the API."""

from __future__ import annotations


def test_staff_leave_feedback_on_a_step_from_their_task(api, collected):
    reviewer = api("reviewer")
    task_id = reviewer.task_of(collected["id"], "review")
    reply = reviewer.post(
        "/api/v1/procedures/collection/feedback",
        {"text": "审核表需要增加证件核验项 Add an ID check item", "task_id": task_id},
    )
    assert reply.status == 201
    assert (reply.body["step"], reply.body["case_id"]) == ("review", collected["id"])
    listed = api("owner").get("/api/v1/procedures/collection/feedback").body["feedback"]
    assert [f["author"] for f in listed] == ["reviewer"]


def test_feedback_carrying_an_id_number_or_phone_is_refused(api):
    reply = api("frontdesk").post(
        "/api/v1/procedures/collection/feedback",
        {"text": "customer 11010519491231002X could not sign"},
    )
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "text"


def test_a_review_is_not_started_from_the_generic_start_form(api):
    owner = api("owner")
    reply = owner.post("/api/v1/cases", {"procedure": "procedure_review"})
    assert reply.status == 422, reply.body  # was a 500
    assert reply.body["error"]["details"][0]["field"] == "procedure"
    assert "/reviews" in reply.body["error"]["message"]
    assert owner.get("/api/v1/cases?mine=true").body["cases"] == []


def test_a_review_started_by_hand_gives_the_owner_a_task(api):
    owner = api("owner")
    started = owner.post("/api/v1/procedures/collection/reviews")
    assert started.status == 201 and started.body["trigger"] == "hand"
    assert owner.post("/api/v1/procedures/collection/reviews").status == 409
    task_id = owner.task_of(started.body["case_id"], "assess_procedure")
    task = owner.get(f"/api/v1/tasks/{task_id}").body
    assert task["case_data"]["review"]["figures"]["cases"]["started"] == 0
    assert task["form_schema"]["x-title-en"] == "Periodic procedure review"
