"""Keyboard use, tablet width, and the audit trail's verify button, in both languages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from service.audit.checkpoints import make_checkpoint
from tests.conftest import PASSWORD

LANGS = pytest.mark.parametrize("lang", ["zh-CN", "en"])
SUFFIX = {"zh-CN": "zh", "en": "en"}
START = {"zh-CN": "开始", "en": "Start"}
INTACT = {"zh-CN": "完整,未被篡改", "en": "Intact, not tampered with"}


def _tab_until(page, selector, limit=40):
    """Press Tab until `selector` has the focus; the ids focused on the way, in order."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.id")
        seen.append(focused)
        if page.locator(selector).evaluate("node => node === document.activeElement"):
            return seen
    raise AssertionError(f"{selector} not reached by Tab; focused in turn: {seen}")


def _no_horizontal_overflow(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_a_task_is_done_with_the_keyboard_alone(open_session):
    desk = open_session("zh-CN")
    page = desk.go("/login")
    expect(page.locator("#username")).to_be_focused()  # the login page starts in its form
    page.keyboard.type("frontdesk")
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/tasks$"))
    expect(page.locator("#start-form")).to_be_visible()
    # The first Tab stop is the skip link, which moves the focus to the main content.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    _tab_until(page, "#start-procedure")
    page.locator("#start-procedure").select_option("collection")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/tasks/[^/]+$"))
    expect(page.locator("#complete-button")).to_be_visible()
    # Every control of the form is reached by Tab, in the order it is shown.
    order = _tab_until(page, "#complete-button")
    controls = page.locator("#task-form .fields").evaluate(
        "node => [...node.querySelectorAll('input,select,textarea')].map((c) => c.id)"
    )
    reached = [focused for focused in order if focused in controls]
    assert reached == controls, (reached, controls)
    # Space ticks a checkbox; Enter on the submit button sends the form.
    page.locator("#field-purpose").select_option("service_contract")
    page.locator("#field-consent_text_version").fill("v3.1")
    for box in ("#field-consent_given", "#field-sensitive_consent_given"):
        page.locator(box).focus()
        page.keyboard.press("Space")
        expect(page.locator(box)).to_be_checked()
    page.locator("#complete-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#task-done")).to_be_visible()
    # The focus moves to the next step's link, so Enter goes on with the case.
    expect(page.locator("#task-done a").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#field-name")).to_be_visible()


@LANGS
def test_the_staff_pages_fit_a_tablet(open_session, lang):
    desk = open_session(lang, width=768, height=1024)
    page = desk.log_in("frontdesk")
    _no_horizontal_overflow(page)
    page.locator("#start-procedure").select_option("collection")
    page.get_by_role("button", name=START[lang], exact=True).click()
    page.wait_for_url(re.compile(r".*/tasks/[^/]+$"))
    expect(page.locator("#complete-button")).to_be_visible()
    _no_horizontal_overflow(page)
    # One column at tablet width: the form sits below the case facts, at full width.
    form = page.locator("#task-form").bounding_box()
    assert form["width"] >= 600, form
    desk.shot(f"task-tablet-{SUFFIX[lang]}")
    page.locator("a", has_text=re.compile(r"^[0-9a-f]{8}$")).first.click()
    expect(page.locator("#canvas")).to_have_attribute("data-ready", "true")
    _no_horizontal_overflow(page)
    desk.shot(f"case-tablet-{SUFFIX[lang]}")


@LANGS
def test_verify_shows_the_checkpoint_and_the_result(open_session, deps, lang):
    overseer = open_session(lang)
    page = overseer.log_in("compliance")
    assert make_checkpoint(deps) is not None  # what the scheduled checkpoint job does
    page.goto(overseer.base + "/audit")
    expect(page.locator("#checkpoint-n")).to_have_text("1")
    size = int(page.locator("#checkpoint-size").inner_text())
    assert size >= 1
    page.locator("#verify-button").click()
    expect(page.locator("#verify-outcome")).to_contain_text(INTACT[lang])
    counts = page.locator("#verify-counts").inner_text()
    assert int(re.findall(r"\d+", counts)[0]) >= size, counts
    expect(page.locator("#verify-reason")).to_have_count(0)
    overseer.shot(f"audit-verify-{SUFFIX[lang]}")


@LANGS
def test_each_main_page_in_both_languages(open_session, lang):
    """Screenshots of the pages the other tests do not reach in this language."""
    suffix = SUFFIX[lang]
    visitor = open_session(lang)
    page = visitor.go("/login")
    expect(page.locator("#username")).to_be_visible()
    visitor.shot(f"login-{suffix}")
    loading = {"zh-CN": "加载中", "en": "Loading"}[lang]
    for username, path in (
        ("frontdesk", "/tasks"),
        ("owner", "/procedures"),
        ("compliance", "/reviews"),
        ("compliance", "/audit"),
    ):
        person = open_session(lang)
        page = person.log_in(username)
        page.goto(person.base + path)
        page.wait_for_load_state("networkidle")
        expect(page.locator("main")).not_to_contain_text(loading)
        expect(page.locator("#alert")).to_be_hidden()
        _no_horizontal_overflow(page)
        person.shot(f"page{path.replace('/', '-')}-{suffix}")
