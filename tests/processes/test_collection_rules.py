"""Collection refinements (mission 3.1, PIPL): duplicates and consent."""

from __future__ import annotations

from sqlalchemy import select

from service.vault.consents import Consent
from tests.api.conftest import CONSENT, VALID_FORM


def test_a_customer_already_on_record_is_routed_to_the_update_procedure(api, customer):
    desk = api("frontdesk2")
    case = desk.start("collection")
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    again = desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    assert again.status == 409
    assert "update procedure" in again.body["error"]["message"]
    assert again.body["error"]["details"][0]["subject"] == customer


def test_consent_is_recorded_per_purpose_with_its_text_version(deps, customer):
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Consent.purpose, Consent.text_version, Consent.sensitive)
            .where(Consent.subject == customer)
            .order_by(Consent.sensitive)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("service_contract", "v3.1", False),
        ("service_contract", "v3.1", True),
    ]


def test_without_separate_consent_for_the_id_number_nothing_is_collected(api):
    desk = api("frontdesk")
    case = desk.start("collection")
    done = desk.complete(
        desk.task_of(case["id"], "record_consent"), dict(CONSENT, sensitive_consent_given=False)
    )
    assert (done.body["status"], done.body["outcome"]) == ("completed", "no_consent")
