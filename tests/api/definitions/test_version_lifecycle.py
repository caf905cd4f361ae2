"""The whole life of a version through the API, as the process owner and compliance do it."""

from __future__ import annotations

from tests.api.conftest import CONSENT, VALID_FORM
from tests.api.definitions.conftest import COLLECTION_BPMN, put

NEW_LABEL = "审核（双人复核） Review (second check)"


def _get_forms(api, version_id: int) -> dict:
    return api("owner").get(f"/api/v1/versions/{version_id}").body["forms"]


def test_a_version_goes_from_draft_to_published_and_new_cases_use_it(api, draft):
    owner, compliance, desk = api("owner"), api("compliance"), api("frontdesk")
    old_case = desk.start()
    forms = _get_forms(api, draft["id"])

    broken = COLLECTION_BPMN.replace('targetRef="review" />', 'targetRef="review_decision" />')
    saved = put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": broken, "forms": forms})
    assert saved.status == 200
    assert any("guard rail" in p["reason"] for p in saved.body["report"])
    refused = owner.post(f"/api/v1/versions/{draft['id']}/submit")
    assert refused.status == 422
    assert any(p["element_id"] == "enter_record" for p in refused.body["error"]["details"])

    fixed = COLLECTION_BPMN.replace('name="审核 Review"', f'name="{NEW_LABEL}"')
    saved = put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": fixed, "forms": forms})
    assert saved.status == 200 and saved.body["report"] == []
    submitted = owner.post(f"/api/v1/versions/{draft['id']}/submit")
    assert submitted.status == 200 and submitted.body["status"] == "in_review"

    frozen = put(
        owner, f"/api/v1/versions/{draft['id']}", {"bpmn": COLLECTION_BPMN, "forms": forms}
    )
    assert frozen.status == 409

    approved = compliance.post(
        f"/api/v1/versions/{draft['id']}/approve",
        {"comment": "ok", "content_hash": submitted.body["content_hash"]},
    )
    assert approved.status == 200
    assert approved.body["approved_hash"] == submitted.body["content_hash"]
    published = compliance.post(f"/api/v1/versions/{draft['id']}/publish")
    assert published.status == 200 and published.body["status"] == "published"

    new_case = desk.start()
    assert (
        desk.get(f"/api/v1/cases/{new_case['id']}").body["version_hash"]
        == approved.body["content_hash"]
    )
    _old_case_finishes_on_its_own_version(api, old_case["id"])
    history = owner.get("/api/v1/procedures/collection/versions").body["versions"]
    assert [(v["number"], v["status"]) for v in history] == [(1, "retired"), (2, "published")]
    assert history[1]["author"] == "owner" and history[1]["reviewed_by"] == "compliance"
    assert history[1]["published_by"] == "compliance"


def _old_case_finishes_on_its_own_version(api, case_id: str) -> None:
    desk, reviewer = api("frontdesk"), api("reviewer")
    assert desk.complete(desk.task_of(case_id, "record_consent"), CONSENT).status == 200
    assert desk.complete(desk.task_of(case_id, "fill_form"), VALID_FORM).status == 200
    case = reviewer.get(f"/api/v1/cases/{case_id}").body
    assert [t["label"] for t in case["tasks"]] == ["审核 Review"]
    done = reviewer.complete(case["tasks"][0]["id"], {"decision": "approve"})
    assert done.status == 200 and done.body["outcome"] == "entered"


def test_the_author_cannot_approve_their_own_version_and_the_refusal_is_audited(api, users, deps):
    from sqlalchemy import select

    from service.audit.models import AuditRecord

    both = api("owner")
    with deps.unit_of_work() as uow:
        from service.access.models import UserRole

        uow.session.add(UserRole(user_id=users["owner"], role="compliance"))
        uow.commit()
    created = both.post("/api/v1/procedures/collection/versions", {"summary": "mine"}).body
    assert both.post(f"/api/v1/versions/{created['id']}/submit").status == 200
    reply = both.post(f"/api/v1/versions/{created['id']}/approve", {"comment": "fine by me"})
    assert reply.status == 403
    assert "four eyes" in reply.body["error"]["message"]
    with deps.unit_of_work() as uow:
        refused_by = uow.session.scalar(
            select(AuditRecord.actor).where(
                AuditRecord.action == "version.approve", AuditRecord.outcome == "refused"
            )
        )
    assert refused_by == "owner"


def test_only_approved_content_publishes(api, draft):
    owner, compliance = api("owner"), api("compliance")
    assert compliance.post(f"/api/v1/versions/{draft['id']}/publish").status == 409
    assert owner.post(f"/api/v1/versions/{draft['id']}/submit").status == 200
    wrong = compliance.post(
        f"/api/v1/versions/{draft['id']}/approve", {"comment": "", "content_hash": "0" * 64}
    )
    assert wrong.status == 409


def test_a_rejected_version_needs_a_reason_and_cannot_publish(api, draft):
    owner, compliance = api("owner"), api("compliance")
    assert owner.post(f"/api/v1/versions/{draft['id']}/submit").status == 200
    assert compliance.post(f"/api/v1/versions/{draft['id']}/reject", {"comment": " "}).status == 422
    rejected = compliance.post(f"/api/v1/versions/{draft['id']}/reject", {"comment": "no"})
    assert rejected.status == 200 and rejected.body["status"] == "rejected"
    assert compliance.post(f"/api/v1/versions/{draft['id']}/publish").status == 409


def test_staff_outside_the_review_roles_cannot_draft_or_approve(api, draft):
    assert api("frontdesk").post("/api/v1/procedures/collection/versions", {}).status == 403
    assert api("owner").post(f"/api/v1/versions/{draft['id']}/submit").status == 200
    assert api("reviewer").post(f"/api/v1/versions/{draft['id']}/approve", {}).status == 403


def test_any_version_diagram_can_be_viewed_and_diffed(api, draft):
    owner = api("owner")
    forms = _get_forms(api, draft["id"])
    renamed = COLLECTION_BPMN.replace('name="审核 Review"', f'name="{NEW_LABEL}"')
    put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": renamed, "forms": forms})
    xml = owner.client.get("/api/v1/procedures/collection/versions/1/bpmn", headers=owner.headers)
    assert xml.status_code == 200 and b"<bpmn:definitions" in xml.data
    diff = owner.get(f"/api/v1/versions/{draft['id']}/diff").body
    assert diff["base"]["number"] == 1 and diff["target"]["number"] == 2
    assert diff["elements"]["changed"] == [
        {
            "id": "review",
            "type": "userTask",
            "name": NEW_LABEL,
            "changes": [{"what": "name", "before": "审核 Review", "after": NEW_LABEL}],
        }
    ]
    against = owner.get(f"/api/v1/versions/{draft['id']}/diff?against={draft['id']}").body
    assert against["elements"]["changed"] == []
