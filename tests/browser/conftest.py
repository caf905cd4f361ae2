"""Browser tests: a real server on a loopback port and Debian's headless Chromium via Playwright.

The server is the Flask app built from the `deps` fixture (SQLite only: the
browser layer adds nothing backend-specific), served by werkzeug in a thread.
Chromium is the system package (`apt-get install chromium`); no browser is
ever downloaded. Screenshots of each main page go to DATASTEWARD_SCREENSHOTS
(default var/screenshots), printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, REQUIRE_SERVICES, ROOT

CHROMIUM = os.environ.get("DATASTEWARD_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("DATASTEWARD_SCREENSHOTS", ROOT / "var" / "screenshots"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_ENABLE = (
    "as root: apt-get install -y chromium fonts-noto-cjk (scripts/setup.sh does it), "
    "then make setup (installs playwright and the npm packages)"
)
pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM}"
    if not (ROOT / "node_modules" / "bpmn-js" / "dist").is_dir():
        return "node_modules/bpmn-js is not installed (npm ci)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem:
        message = f"browser tests need Chromium: {problem}; {HOW_TO_ENABLE}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def backend() -> str:
    """The browser layer runs on the embedded default only."""
    return "sqlite"


@pytest.fixture
def live_server(app, users) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


class Session:
    """One person at one browser window, speaking one language."""

    def __init__(self, browser: Any, base: str, lang: str, width: int, height: int) -> None:
        self.base = base
        self.context = browser.new_context(
            viewport={"width": width, "height": height},
            locale=lang,
            extra_http_headers={"Accept-Language": lang},
        )
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def go(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def log_in(self, username: str) -> Any:
        page = self.go("/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(PASSWORD)
        page.locator("#password").press("Enter")
        page.wait_for_url(re.compile(r".*/(tasks|procedures|reviews|audit).*"))
        return page

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_session(browser, live_server) -> Iterator[Any]:
    sessions: list[Session] = []

    def start(lang: str = "zh-CN", width: int = 1280, height: int = 800) -> Session:
        session = Session(browser, live_server, lang, width, height)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        assert not session.console_errors, session.console_errors
        session.context.close()


@pytest.fixture
def customer(client) -> str:
    """A customer collected, reviewed and entered through the HTTP API; returns the pseudonym.

    The lifecycle procedures (query, update, deletion) need someone on record first.
    """
    from tests.api.conftest import CONSENT, VALID_FORM, UserClient

    desk, reviewer = UserClient(client, "frontdesk2"), UserClient(client, "reviewer2")
    case = desk.start("collection")
    assert desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT).status == 200
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    done = reviewer.complete(reviewer.task_of(case["id"], "review"), {"decision": "approve"})
    assert done.body["outcome"] == "entered", done.body
    return str(done.body["subject"])


@pytest.fixture
def as_user(client) -> Any:
    """The HTTP API as one user, to check what the browser's actions left behind."""
    from tests.api.conftest import UserClient

    return lambda username: UserClient(client, username)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")
