"""A deletion request filed at the counter with its proof, uploaded from the request page.

The case does not know the customer until the request form is sent, yet the
front desk attaches the proof right there; the form names the customer, the
proof moves into their record, and the reviewer finds it on the review step.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM
from tests.browser.test_lifecycle import PDF, SUFFIX, WORDS, _open_from_list, _start, _upload

REVIEW_STEP = {"zh-CN": "审核删除申请", "en": "Review the request"}


def _file_with_proof(desk, words) -> str:
    page = _start(desk, "frontdesk", "deletion", words)
    page.locator("#field-id_type").select_option("resident_id")
    page.locator("#field-id_number").fill(VALID_FORM["id_number"])
    page.locator("#field-reason").select_option("account_closed")
    expect(page.locator("#proof-file")).to_be_enabled()
    expect(page.locator("#proof-upload")).to_be_enabled()
    expect(page.locator("#proof-file-hint")).to_contain_text(words["before_subject"])
    _upload(page, "signed-request.pdf", "application/pdf", PDF)
    uploaded = page.locator("#proof-list li")
    expect(uploaded).to_have_count(1)
    expect(uploaded).to_contain_text("PDF")
    expect(uploaded).not_to_contain_text("signed-request.pdf")
    document_id = uploaded.get_attribute("data-document")
    assert document_id
    expect(page.locator("#field-documents-0")).to_have_value(document_id)
    desk.shot(f"deletion-request-proof-{SUFFIX[words['lang']]}")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
    return document_id


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_front_desk_files_a_deletion_request_with_its_proof_and_review_gets_it(
    open_session, customer, as_user, lang
):
    words = WORDS[lang]
    document_id = _file_with_proof(open_session(lang), words)

    reviewer = open_session(lang)
    page = _open_from_list(reviewer, "reviewer", REVIEW_STEP[lang], words)
    expect(page.locator(f'#casedata-head ~ dl a[data-document="{document_id}"]')).to_be_visible()
    reviewer.shot(f"deletion-review-proof-{SUFFIX[lang]}")
    api = as_user("reviewer")
    got = api.client.get(f"/api/v1/documents/{document_id}", headers=api.headers)
    assert got.status_code == 200 and got.data == PDF
    task = api.get(f"/api/v1/tasks/{page.url.rsplit('/', 1)[-1]}").body
    assert api.get(f"/api/v1/cases/{task['case_id']}").body["subject"] == customer
