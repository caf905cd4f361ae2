"""The lifecycle procedures in the browser: array fields and proof documents.

A department asks to see a customer's data by ticking the fields it needs, and the
reviewer narrows them by unticking; a change request asks for more proof, which the
front desk uploads through the task page (after a refused upload shows its reason).
Each flow runs in Chinese and in English and leaves screenshots of its pages.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.api.conftest import VALID_FORM

PDF = b"%PDF-1.7\n%proof\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
UNKNOWN_DOCUMENT = "00000000-0000-4000-8000-000000000000"

WORDS = {
    "zh-CN": {
        "lang": "zh-CN",
        "one_of": "至少填写一项",
        "start": "开始",
        "required": "此项必填",
        "query_form": "用户资料查询申请表",
        "review_step": "审核查询目的",
        "change_step": "审核变更真实性",
        "proof_step": "补充证明材料",
        "claim": "领取",
        "open": "打开",
        "mobile": "手机号码",
        "address": "联系地址",
        "not_a_document": "文件不是 PDF、JPEG 或 PNG 格式",
        "too_large": "超过上限",
        "not_uploaded": "材料未上传到本案件",
        "wrong_format": "格式不正确",
        "remove_2": "删除 材料编号 2",
        "requested": "姓名、手机号码、联系地址",
        "before_subject": "未列在表单中的材料将被删除",
    },
    "en": {
        "lang": "en",
        "one_of": "Fill in at least one of",
        "start": "Start",
        "required": "This field is required",
        "query_form": "Customer data query request form",
        "review_step": "Review the purpose",
        "change_step": "Review the change",
        "proof_step": "Provide more proof",
        "claim": "Claim",
        "open": "Open",
        "mobile": "Mobile number",
        "address": "Address",
        "not_a_document": "document is not a PDF, JPEG or PNG file",
        "too_large": "the limit is",
        "not_uploaded": "not uploaded to this case",
        "wrong_format": "Wrong format",
        "remove_2": "Remove Document id 2",
        "requested": "Name, Mobile number, Address",
        "before_subject": "documents not listed are deleted",
    },
}
LANGS = pytest.mark.parametrize("lang", ["zh-CN", "en"])
SUFFIX = {"zh-CN": "zh", "en": "en"}


def _start(session, username, procedure, words):
    page = session.log_in(username)
    page.locator("#start-procedure").select_option(procedure)
    page.get_by_role("button", name=words["start"], exact=True).click()
    page.wait_for_url(re.compile(r".*/tasks/[^/]+$"))
    return page


def _open_from_list(session, username, step, words):
    """Claim the step from the task list (if it is not claimed yet) and open it."""
    page = session.log_in(username)
    listed = page.locator("#table-mine tbody tr, #table-claimable tbody tr", has_text=step)
    expect(listed.first).to_be_visible()
    claimable = page.locator("#table-claimable tbody tr", has_text=step)
    if claimable.count():
        claimable.first.get_by_role("button", name=re.compile(f"^{words['claim']}")).click()
    mine = page.locator("#table-mine tbody tr", has_text=step).first
    mine.get_by_role("link", name=re.compile(f"^{words['open']}")).click()
    expect(page.locator("#complete-button")).to_be_visible()
    return page


def _no_horizontal_overflow(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


@LANGS
def test_a_query_ticks_fields_and_the_reviewer_approves_fewer(
    open_session, customer, as_user, lang
):
    words, suffix = WORDS[lang], SUFFIX[lang]
    dept = open_session(lang)
    page = _start(dept, "dept", "query", words)
    expect(page.locator("h2#form-head")).to_have_text(words["query_form"])
    page.locator("#field-lookup_by").select_option("id_number")
    page.locator("#field-id_type").select_option("resident_id")
    page.locator("#field-id_number").fill(VALID_FORM["id_number"])
    page.locator("#field-purpose").select_option("billing_dispute")
    page.locator("#field-purpose_detail").fill("customer disputes the October invoice")
    page.locator("#field-legal_basis").select_option("contract")
    # Nothing ticked: the schema's minItems/required shows next to the checkbox group.
    page.locator("#complete-button").click()
    expect(page.locator("#field-fields-error")).to_have_text(words["required"])
    expect(page.locator("#field-fields")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-fields input").first).to_be_focused()
    # Keyboard: Space ticks the focused box; each box is labelled by the field's own name.
    page.keyboard.press("Space")
    page.get_by_role("checkbox", name=words["mobile"], exact=True).check()
    page.get_by_role("checkbox", name=words["address"], exact=True).check()
    expect(page.locator("#field-fields input:checked")).to_have_count(3)
    dept.shot(f"query-request-{suffix}")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()

    reviewer = open_session(lang)
    page = _open_from_list(reviewer, "reviewer", words["review_step"], words)
    expect(page.locator("#casedata-head")).to_be_visible()
    expect(page.locator(".card", has=page.locator("#casedata-head"))).to_contain_text(
        words["requested"]
    )
    # Only the three fields the request asked for are offered ("x-within": "fields").
    expect(page.locator("#field-approved_fields input")).to_have_count(3)
    page.locator("#field-decision").select_option("approve")
    page.locator("#complete-button").click()
    # Approving needs the approved fields (the schema's if/then), shown on the group.
    expect(page.locator("#field-approved_fields-error")).to_have_text(words["required"])
    page.get_by_role("checkbox", name=words["mobile"], exact=True).check()
    reviewer.shot(f"query-review-{suffix}")
    _no_horizontal_overflow(page)
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()

    grants = as_user("dept").get("/api/v1/grants").body["grants"]
    assert len(grants) == 1
    assert grants[0]["fields"] == ["mobile"]


def _file_change_request(desk, words):
    page = _start(desk, "frontdesk", "update", words)
    page.locator("#field-id_type").select_option("resident_id")
    page.locator("#field-id_number").fill(VALID_FORM["id_number"])
    page.locator("#field-reason").fill("customer changed phone number")
    # The schema's anyOf: at least one new value, named on the first of them.
    page.locator("#complete-button").click()
    expect(page.locator("#field-new_name-error")).to_contain_text(words["one_of"])
    page.locator("#field-new_mobile").fill("13900001111")
    # No customer is identified before this form is sent: proof can be attached all the same.
    expect(page.locator("#proof-file")).to_be_enabled()
    expect(page.locator("#proof-file-hint")).to_contain_text(words["before_subject"])
    desk.shot(f"change-request-{SUFFIX[words['lang']]}")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()


def _ask_for_more_proof(reviewer, words):
    page = _open_from_list(reviewer, "reviewer", words["change_step"], words)
    # The new value asked for, beside the record it would replace.
    expect(page.locator('#requested-values dd[data-field="mobile"]')).to_contain_text("13900001111")
    expect(page.locator('#subject-fields dd[data-field="mobile"]')).to_contain_text(
        VALID_FORM["mobile"]
    )
    page.locator("#field-decision").select_option("more_proof")
    page.locator("#field-review_reason").fill("need the SIM contract")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()


def _upload(page, name, mime, data):
    page.locator("#proof-file").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    # Keyboard: from the file control, Tab reaches the upload button and Enter presses it.
    page.locator("#proof-file").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#proof-upload")).to_be_focused()
    page.keyboard.press("Enter")


def _provide_proof(desk, words, suffix):
    page = _open_from_list(desk, "frontdesk", words["proof_step"], words)
    error = page.locator("#proof-file-error")
    # A text file named .pdf is refused for its content, and the reason sits by the control.
    _upload(page, "notes.pdf", "application/pdf", b"just some text, not a document")
    expect(error).to_have_text(words["not_a_document"])
    expect(page.locator("#proof-file")).to_have_attribute("aria-invalid", "true")
    desk.shot(f"proof-refused-{suffix}")
    _upload(page, "big.png", "image/png", PNG + b"\x00" * (3 * 1024 * 1024))
    expect(error).to_contain_text(words["too_large"])
    # A well-formed reference to a document this case does not have: the server's 422 is
    # mapped back to the documents field.
    page.locator("#field-documents-0").fill(UNKNOWN_DOCUMENT)
    page.locator("#field-note").fill("contract attached")
    page.locator("#complete-button").click()
    expect(page.locator("#field-documents-error")).to_contain_text(words["not_uploaded"])
    page.locator("#field-documents-0").fill("")
    # The real upload: the result shows type, size and a short hash, and fills the field.
    _upload(page, "contract.pdf", "application/pdf", PDF)
    uploaded = page.locator("#proof-list li")
    expect(uploaded).to_have_count(1)
    expect(uploaded).to_contain_text("PDF")
    expect(uploaded).to_contain_text(f"{len(PDF)} B")
    expect(uploaded).not_to_contain_text("contract.pdf")
    expect(error).to_have_text("")
    document_id = uploaded.get_attribute("data-document")
    expect(page.locator("#field-documents-0")).to_have_value(document_id)
    # An item-level rule on a second row is shown on that row, numbered.
    page.locator("#field-documents-add").click()
    expect(page.locator("#field-documents-1")).to_be_focused()
    page.keyboard.type("not-a-reference")
    page.locator("#complete-button").click()
    expect(page.locator("#field-documents-1-error")).to_have_text(words["wrong_format"])
    page.get_by_role("button", name=words["remove_2"], exact=True).click()
    expect(page.locator("#field-documents-1")).to_have_count(0)
    desk.shot(f"proof-uploaded-{suffix}")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
    return document_id


@LANGS
def test_a_change_request_gets_its_proof_uploaded_through_the_page(
    open_session, customer, as_user, lang
):
    words, suffix = WORDS[lang], SUFFIX[lang]
    desk = open_session(lang)
    _file_change_request(desk, words)
    reviewer = open_session(lang)
    _ask_for_more_proof(reviewer, words)
    document_id = _provide_proof(open_session(lang), words, suffix)

    # The reviewer finds the document in the case data, can read it, and approves.
    page = _open_from_list(reviewer, "reviewer", words["change_step"], words)
    link = page.locator(f'#casedata-head ~ dl a[data-document="{document_id}"]')
    expect(link).to_have_attribute("href", f"/api/v1/documents/{document_id}")
    # The link opens the document with the browser session (the reviewer's own read).
    got = page.request.get(page.url.split("/tasks/")[0] + link.get_attribute("href"))
    assert got.status == 200 and got.body() == PDF
    page.locator("#field-decision").select_option("approve")
    page.locator("#complete-button").click()
    expect(page.locator("#task-done")).to_be_visible()
    case_url = page.locator("#task-done a", has_text=re.compile(".")).nth(0).get_attribute("href")
    case_id = case_url.rsplit("/", 1)[-1]
    assert as_user("reviewer").get(f"/api/v1/cases/{case_id}").body["outcome"] == "updated"


def test_server_item_paths_are_mapped_back_to_rows_and_checkboxes(open_session, customer):
    """The API names array items "fields.1"; the form shows them on the right control."""
    dept = open_session("en")
    page = _start(dept, "dept", "query", WORDS["en"])
    expect(page.locator("#field-fields")).to_be_visible()
    placed = page.evaluate(
        """() => {
          const fields = document.querySelector("#task-form .fields");
          const errors = SchemaForm.serverErrors([
            {field: "fields.1", reason: "must be one of ['name']"},
            {field: "purpose", reason: "is required"},
            {field: "nowhere", reason: "is required"},
          ]);
          const unplaced = SchemaForm.showErrors(fields, errors);
          return {
            unplaced,
            fields: document.getElementById("field-fields-error").textContent,
            purpose: document.getElementById("field-purpose-error").textContent,
          };
        }"""
    )
    assert placed["fields"] == "Item 2: must be one of ['name']"
    assert placed["purpose"] == "is required"
    assert placed["unplaced"] == ["nowhere: is required"]
