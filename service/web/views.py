"""The browser UI: pages are HTML shells whose scripts call the JSON API with the session.

Logging in here calls the same use case as POST /api/v1/auth/login and keeps the
token in the signed session; the API accepts it with the CSRF header on writes.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from functools import wraps
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)

from service.access.login import log_in, log_out
from service.access.permissions import allows
from service.access.service import ROLES, SUPERVISOR, Actor
from service.access.training import training_due
from service.api.auth import anonymous_actor, current_actor, deps, start_browser_session
from service.errors import DomainError, Unauthenticated
from service.web import i18n

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# bpmn-js is installed from npm (package-lock.json) into the project's node_modules.
BPMN_DIST = HERE.parents[1] / "node_modules" / "bpmn-js" / "dist"

blueprint = web = Blueprint("web", __name__, template_folder="templates")

# Which pages each role reaches from the navigation bar.
NAV = (
    ("web.tasks", "nav.tasks", None),
    ("web.procedures", "nav.procedures", {"process_owner", "compliance"}),
    ("web.reviews", "nav.reviews", {"compliance"}),
    ("web.audit", "nav.audit", {"compliance", "auditor", "admin"}),
    ("web.holds", "nav.holds", {"compliance", "data_officer", "auditor"}),
    ("web.grants", "nav.grants", {"department_staff", "front_desk"}),
)


@web.before_app_request
def _remember_language() -> None:
    chosen = request.args.get("lang")
    if chosen in i18n.LANGUAGES:
        session["lang"] = chosen


def page(view):
    """A page for a logged-in user; anyone else goes to the login page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not session.get("api_token"):
            return redirect(url_for("web.login", next=request.path))
        try:
            current_actor()
        except Unauthenticated:
            session.pop("api_token", None)
            return redirect(url_for("web.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def render(template: str, **context: Any) -> str:
    lang = i18n.choose_language()
    actor: Actor | None = current_actor() if session.get("api_token") else None
    return render_template(
        template,
        lang=lang,
        t=lambda key, **values: i18n.translate(lang, key, **values),
        strings=i18n.strings(lang),
        actor=actor,
        nav=[item for item in NAV if actor and (item[2] is None or item[2] & actor.roles)],
        csrf_token=_csrf_token(),
        **context,
    )


def _csrf_token() -> str:
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return str(session["csrf_token"])


# The tab's icon: a shield in the header's colour (browsers ask every page for it).
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<path d="M8 1 2 3v4.5C2 11 4.6 14 8 15c3.4-1 6-4 6-7.5V3z" fill="#0f2a44"/></svg>'
)


@web.get("/favicon.ico")
def favicon():
    return Response(_ICON, mimetype="image/svg+xml")


@web.get("/")
def home():
    if not session.get("api_token"):
        return redirect(url_for("web.login"))
    return redirect(url_for("web.tasks"))


@web.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        error = _try_login()
        if error is None:
            return redirect(_safe_next(request.args.get("next")))
    return render("login.html", error=error), (401 if error else 200)


def _try_login() -> str | None:
    sent = request.form.get("csrf_token", "")
    if not secrets.compare_digest(sent, session.get("csrf_token", "")):
        return "login.expired"
    try:
        result = log_in(
            deps(),
            anonymous_actor(),
            request.form.get("username", "")[:64],
            request.form.get("password", "")[:256],
        )
    except DomainError:
        return "login.failed"
    start_browser_session(result)
    return None


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.tasks")


@web.post("/logout")
def logout():
    token = session.get("api_token")
    if token:
        # An expired token or a stale form: the session goes either way.
        with suppress(DomainError):
            log_out(deps(), current_actor(), token)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("web.login"))


@web.get("/tasks")
@page
def tasks():
    actor = current_actor()
    due = training_due(actor, deps().now())
    return render("tasks.html", training_due=due, supervises=SUPERVISOR in actor.roles)


@web.get("/tasks/<task_id>")
@page
def task(task_id: str):
    return render(
        "task.html", task_id=task_id, max_document_bytes=deps().settings.max_document_bytes
    )


@web.get("/cases/<case_id>")
@page
def case(case_id: str):
    return render("case.html", case_id=case_id)


@web.get("/procedures")
@page
def procedures():
    return render("procedures.html")


@web.get("/versions/<int:version_id>/edit")
@page
def modeler(version_id: int):
    return render("modeler.html", version_id=version_id, roles=ROLES)


@web.get("/reviews")
@page
def reviews():
    return render("reviews.html")


@web.get("/versions/<int:version_id>/review")
@page
def review(version_id: int):
    return render("review.html", version_id=version_id)


@web.get("/audit")
@page
def audit():
    return render("audit.html")


@web.get("/grants")
@page
def grants():
    return render("grants.html")


@web.get("/holds")
@page
def holds():
    actor = current_actor()
    return render("holds.html", can_manage=allows(actor.roles, "hold.manage", actor.scopes))


@web.get("/static/vendor/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    if not BPMN_DIST.is_dir():
        abort(404, "bpmn-js is not installed: run `make setup` (npm ci)")
    return send_from_directory(BPMN_DIST, filename, max_age=3600)


@web.get("/static/<path:filename>")
def static(filename: str):
    return send_from_directory(STATIC, filename, max_age=300)
