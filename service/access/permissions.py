"""Who may do what: the role -> permission matrix and the endpoint -> permission table.

This module is the one place access is decided. Every Flask endpoint must have
a rule in ENDPOINT_PERMISSIONS; one before_request hook (service/api/auth.py)
enforces it and refuses, by default, an endpoint that has none. The use cases
then apply the finer rules that need the data: the task's lane must be one of
the actor's roles, separation of duties (service/cases/duties.py) and branch
scope.
"""

from __future__ import annotations

from collections.abc import Iterable

PUBLIC = "public"
AUTHENTICATED = "authenticated"
# A browser page: like AUTHENTICATED, but anonymous users are sent to the login page.
# Pages are shells; the data they show comes from the API, which has its own rules.
PAGE = "page"

PERMISSIONS: dict[str, str] = {
    "procedure.read": "list procedures and their published versions",
    "case.start": "start a case of a procedure whose first step is in one of your lanes",
    "case.read": "see a case you have a role in",
    "task.read": "see tasks and their forms (subject values masked unless reviewing)",
    "task.work": "claim, release and complete tasks in the lanes of your roles",
    "subject.read": "read a subject's data (masked)",
    "subject.read_unmasked": "read a subject's data in clear, for a stated purpose",
    "version.read": "read procedure versions, their diagrams and diffs",
    "version.draft": "draft and submit new versions of a procedure",
    "version.review": "approve or reject a submitted version (never your own)",
    "version.publish": "publish an approved version and migrate cases to it",
    "review.start": "start the periodic review of a procedure (section 6)",
    "audit.read": "read the audit trail",
    "audit.verify": "verify the audit chain and its checkpoints",
    "users.admin": "create users, assign roles and scopes",
    "training.manage": "record staff training",
    "compliance.report": "see who is lapsed in required training, break-glass uses",
    "break_glass.use": "open time-boxed emergency access beyond your branch",
    "ops.read": "operational metrics and job status",
    "case.extend": "extend a request's due date, with a reason",
    "grant.use": "read a customer's data through a grant of an approved query or access request",
    "hold.read": "see legal holds and retention periods on subjects",
    "hold.manage": "place and release legal holds and retention periods on subjects",
    "certificate.read": "read signed deletion certificates",
    "audit.read_detail": "read the before and after values of a change-log record",
}

_WORK = frozenset({"procedure.read", "case.read", "task.read", "task.work", "break_glass.use"})
_OVERSIGHT = frozenset({"procedure.read", "case.read", "version.read", "compliance.report"})

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # grant.use: a customer's own access request is granted to the front desk who filed it.
    "front_desk": _WORK | {"case.start", "subject.read", "grant.use"},
    "department_staff": _WORK | {"case.start", "grant.use"},
    "reviewer": _WORK | {"subject.read", "subject.read_unmasked"},
    "data_officer": _WORK
    | {"case.start", "subject.read", "subject.read_unmasked", "case.extend"}
    | {"hold.read", "hold.manage", "certificate.read"},
    "supervisor": _WORK | {"subject.read", "subject.read_unmasked", "case.extend"},
    "process_owner": (_WORK - {"break_glass.use"})
    | {"case.start", "version.read", "version.draft", "version.publish", "review.start"},
    "compliance": _OVERSIGHT
    | {"task.read", "task.work", "subject.read", "version.review", "version.publish"}
    | {"review.start"}
    | {"audit.read", "audit.verify", "training.manage", "hold.read", "hold.manage"}
    | {"certificate.read", "audit.read_detail"},
    "auditor": _OVERSIGHT
    | {"task.read", "subject.read", "audit.read", "audit.verify", "hold.read"}
    | {"certificate.read", "audit.read_detail"},
    "admin": frozenset(
        {"procedure.read", "users.admin", "training.manage", "compliance.report"}
        | {"audit.read", "audit.verify", "ops.read", "version.read"}
    ),
}

# Permissions whose use touches personal data: the training gate applies to them
# (placing a hold may look a person up by ID number; a grant shows values in clear).
PERSONAL_DATA_PERMISSIONS = frozenset(
    {"task.read", "task.work", "subject.read", "subject.read_unmasked", "hold.manage"}
    | {"grant.use", "audit.read_detail"}
)

# Section 5: staff who handle the data are trained regularly on the law.
REQUIRED_TRAINING: dict[str, frozenset[str]] = {
    "personal_data_protection": frozenset(
        {"front_desk", "reviewer", "department_staff", "data_officer", "supervisor"}
    ),
}

ENDPOINT_PERMISSIONS: dict[str, str] = {
    # core API (service/api/routes.py)
    "api.login": PUBLIC,
    "api.logout": AUTHENTICATED,
    "api.me": AUTHENTICATED,
    "api.openapi": PUBLIC,
    "api.procedures": "procedure.read",
    "api.start_case": "case.start",
    "api.show_case": "case.read",
    "api.find_cases": "case.read",
    "api.list_tasks": "task.read",
    "api.show_task": "task.read",
    "api.claim": "task.work",
    "api.unclaim": "task.work",
    "api.complete": "task.work",
    # access (service/api/access.py)
    "access.open_session": PUBLIC,
    # OpenID Connect login (service/api/oidc.py): the callback checks state, nonce and token
    "oidc.start": PUBLIC,
    "oidc.callback": PUBLIC,
    "access.list_users": "users.admin",
    "access.create_user": "users.admin",
    "access.set_user_roles": "users.admin",
    "access.lock_user": "users.admin",
    "access.unlock_user": "users.admin",
    "access.record_training": "training.manage",
    "access.training_of": "training.manage",
    "access.my_training": AUTHENTICATED,
    "access.training_report": "compliance.report",
    "access.create_token": AUTHENTICATED,
    "access.list_tokens": AUTHENTICATED,
    "access.revoke_token": AUTHENTICATED,
    "access.open_break_glass": "break_glass.use",
    "access.close_break_glass": "break_glass.use",
    "access.break_glass_report": "compliance.report",
    "access.enroll_totp": AUTHENTICATED,
    "access.confirm_totp": AUTHENTICATED,
    # vault (service/api/vault.py)
    "vault.upload_document": "task.work",
    "vault.download_document": "subject.read_unmasked",
    "vault.lookup_subject": "subject.read",
    # legal holds (service/api/holds.py); the use cases check the roles again
    "holds.list_holds": "hold.read",
    "holds.place_hold": "hold.manage",
    "holds.release_hold": "hold.manage",
    "holds.show_certificate": "certificate.read",
    # audit trail (service/api/audit.py)
    "audit.search": "audit.read",
    "audit.export": "audit.read",
    "audit.list_checkpoints": "audit.read",
    "audit.verify": "audit.verify",
    "audit.inclusion_proof": "audit.read",
    "audit.change_detail": "audit.read_detail",
    "audit.consistency_proof": "audit.read",
    # procedure versions (service/api/definitions.py); the use cases add the
    # finer rules (the approver is never the author: duties.check_not_author)
    "definitions.list_versions": "version.read",
    "definitions.create_draft": "version.draft",
    "definitions.show_version": "version.read",
    "definitions.save_draft": "version.draft",
    "definitions.submit": "version.draft",
    "definitions.approve": "version.review",
    "definitions.reject": "version.review",
    "definitions.publish": "version.publish",
    "definitions.retire": "version.publish",
    "definitions.diff": "version.read",
    "definitions.version_bpmn": "procedure.read",  # staff see their case's diagram
    "definitions.migration_dry_run": "version.publish",
    "definitions.migrate": "version.publish",
    "definitions.leave_feedback": AUTHENTICATED,  # section 6: every department gives feedback
    "definitions.list_feedback": "version.read",
    "definitions.start_review": "review.start",
    "definitions.list_reviews": "version.read",
    # browser UI (service/web/)
    "web.home": PUBLIC,
    "web.favicon": PUBLIC,
    "web.login": PUBLIC,
    "web.logout": PUBLIC,
    "web.bpmn_js": PUBLIC,
    "web.tasks": PAGE,
    "web.task": PAGE,
    "web.case": PAGE,
    "web.procedures": PAGE,
    "web.modeler": PAGE,
    "web.reviews": PAGE,
    "web.review": PAGE,
    "web.audit": PAGE,
    "web.holds": PAGE,
    "web.grants": PAGE,
    # request procedures (service/api/requests.py): the use cases check the finer rules
    # (only the requester withdraws; only the grant's holder reads through it)
    "requests.withdraw": "case.read",
    "requests.extend": "case.extend",
    "requests.list_grants": "grant.use",
    "requests.show_grant": "grant.use",
    "requests.read_grant": "grant.use",
    "requests.grant_record": "grant.use",
    # operations (service/ops/): probes and the Prometheus scrape carry no personal data
    "ops.healthz": PUBLIC,
    "ops.readyz": PUBLIC,
    "ops.metrics": PUBLIC,
}


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def allows(roles: Iterable[str], permission: str, scopes: frozenset[str] | None = None) -> bool:
    """Whether these roles (limited to the credential's scopes, if any) grant the permission."""
    if permission == PUBLIC:
        return True
    if permission in (AUTHENTICATED, PAGE):
        return True
    if scopes is not None and permission not in scopes:
        return False
    return permission in permissions_of(roles)


def rule_for(endpoint: str | None) -> str | None:
    """The rule for a Flask endpoint; None when there is none (which means: refuse)."""
    if endpoint is None:
        return None
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    return ENDPOINT_PERMISSIONS.get(endpoint)


def required_courses(roles: Iterable[str]) -> list[str]:
    held = set(roles)
    return sorted(course for course, needing in REQUIRED_TRAINING.items() if needing & held)
