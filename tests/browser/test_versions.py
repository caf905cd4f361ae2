"""Process owners and compliance in the browser: edit a diagram, submit it, review the diff."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def _select(page, element_id):
    page.locator(f'.djs-element[data-element-id="{element_id}"]').first.click()
    expect(page.locator("#prop-id")).to_have_text(element_id)


def _set(page, field, value):
    page.locator(field).fill(value)
    page.locator(field).press("Tab")


def _draft_with_an_error_then_fixed(owner):
    page = owner.log_in("owner")
    page.get_by_role("link", name="流程设计").click()
    page.locator("#new-draft-collection").click()
    page.wait_for_url(re.compile(r".*/versions/\d+/edit$"))
    expect(page.locator("#canvas")).to_have_attribute("data-ready", "true")
    _select(page, "review")
    _set(page, "#prop-name", "复核 Second review")
    _set(page, "#prop-form", "no_such_form")
    page.locator("#summary").fill("复核步骤改名 Rename the review step")
    page.locator("#save-button").click()
    problem = page.locator('.djs-element.ds-problem[data-element-id="review"]')
    expect(problem).to_have_count(1)
    expect(page.locator("#report li").first).to_contain_text("no_such_form")
    owner.shot("modeler-error-zh")
    page.locator("#report li button").first.click()
    _set(page, "#prop-form", "collection_review")
    page.locator("#save-button").click()
    expect(page.locator("#report-valid")).to_be_visible()
    expect(page.locator(".djs-element.ds-problem")).to_have_count(0)
    page.locator("#submit-button").click()
    expect(page.locator("#modeler-title")).to_contain_text("待审核")
    owner.shot("modeler-submitted-zh")


def _compliance_approves_and_publishes(reviewer):
    page = reviewer.log_in("compliance")
    page.get_by_role("link", name="版本审核").click()
    expect(page.locator("#review-table")).to_contain_text("v2")
    reviewer.shot("reviews-zh")
    page.locator("#review-table a.button").first.click()
    expect(page.locator("#target-canvas")).to_have_attribute("data-ready", "true")
    for side in ("#base-canvas", "#target-canvas"):
        changed = page.locator(f'{side} .djs-element.ds-changed[data-element-id="review"]')
        expect(changed).to_have_count(1)
    expect(page.locator("#diff-elements")).to_contain_text("review")
    expect(page.locator("#diff-elements .diff-changed")).to_contain_text("修改")
    reviewer.shot("review-diff-zh")
    page.locator("#comment").fill("同意 Approved")
    page.locator("#approve-button").click()
    expect(page.locator("#review-facts")).to_contain_text("已批准")
    page.locator("#publish-button").click()
    expect(page.locator("#review-facts")).to_contain_text("已发布")
    expect(page.locator("#version-history")).to_contain_text("已停用")


def test_a_process_owner_fixes_a_highlighted_error_and_compliance_approves_the_diff(open_session):
    _draft_with_an_error_then_fixed(open_session("zh-CN"))
    _compliance_approves_and_publishes(open_session("zh-CN"))


def test_the_modeler_works_at_tablet_width(open_session):
    owner = open_session("en", width=768, height=1024)
    page = owner.log_in("owner")
    page.goto(owner.base + "/procedures")
    page.locator("#new-draft-collection").click()
    expect(page.locator("#canvas")).to_have_attribute("data-ready", "true")
    canvas, panel = page.locator("#canvas").bounding_box(), page.locator(".panel").bounding_box()
    # At tablet width the properties panel goes below the diagram instead of squeezing it.
    assert panel["y"] >= canvas["y"] + canvas["height"]
    assert canvas["width"] <= 768
    owner.shot("modeler-tablet-en")
