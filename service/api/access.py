"""Access administration under /api/v1: sessions, users and roles, tokens, training,
break-glass and TOTP. Each view parses, calls one use case, returns JSON."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, jsonify, session

from service.access import admin, breakglass, totp, training
from service.access.service import RoleScope
from service.api.auth import current_actor, deps
from service.api.openapi import STR, obj, op, path_param
from service.api.request import aware_datetime, int_arg, json_body, optional_str, required_str
from service.api.routes import log_in_from
from service.errors import Invalid

blueprint = access = Blueprint("access", __name__, url_prefix="/api/v1")
INT = {"type": "integer"}
LIST = {"type": "array"}


@access.post("/auth/session")
def open_session():
    """Browser login: the token stays in the signed, HttpOnly session cookie."""
    result = log_in_from(json_body())
    session.clear()
    session.update(api_token=result["token"], csrf_token=secrets.token_urlsafe(32))
    return jsonify({"user": result["user"], "csrf_token": session["csrf_token"]})


@access.get("/users")
def list_users():
    return jsonify({"users": admin.list_users(deps())})


@access.post("/users")
def create_user():
    body = json_body()
    fields = {
        "username": required_str(body, "username", 64),
        "password": required_str(body, "password", 256),
        "display_name": required_str(body, "display_name", 128),
        "roles": _str_list(body, "roles"),
        "department": optional_str(body, "department", 64),
        "branch": optional_str(body, "branch", 64),
    }
    return jsonify(admin.add_user(deps(), current_actor(), fields)), 201


@access.put("/users/<int:user_id>/roles")
def set_user_roles(user_id: int):
    roles = json_body().get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, dict) for r in roles):
        raise Invalid.field("roles", "a list of {role, department?, branch?} objects is required")
    scopes = [_role_scope(r) for r in roles]
    admin.assign_roles(deps(), current_actor(), user_id, scopes)
    return "", 204


@access.post("/users/<int:user_id>/lock")
def lock_user(user_id: int):
    admin.lock_user(deps(), current_actor(), user_id, required_str(json_body(), "reason", 500))
    return "", 204


@access.post("/users/<int:user_id>/unlock")
def unlock_user(user_id: int):
    admin.unlock_user(deps(), current_actor(), user_id)
    return "", 204


@access.post("/users/<int:user_id>/training")
def record_training(user_id: int):
    body = json_body()
    result = training.record_training(
        deps(),
        current_actor(),
        user_id,
        required_str(body, "course", 64),
        aware_datetime(body, "completed_at"),
        _int(body, "valid_days"),
    )
    return jsonify(result), 201


@access.get("/users/<int:user_id>/training")
def training_of(user_id: int):
    return jsonify({"training": training.training_of(deps(), user_id)})


@access.get("/me/training")
def my_training():
    return jsonify({"training": training.training_of(deps(), current_actor().id)})


@access.get("/compliance/training")
def training_report():
    within = int_arg("within_days", 0, 0, 365)
    return jsonify({"users": training.training_report(deps(), current_actor(), within)})


@access.post("/tokens")
def create_token():
    body = json_body()
    scopes = _str_list(body, "scopes") if body.get("scopes") is not None else None
    name = required_str(body, "name", 64)
    days = _int(body, "days")
    return jsonify(admin.create_token(deps(), current_actor(), name, scopes, days)), 201


@access.get("/tokens")
def list_tokens():
    return jsonify({"tokens": admin.list_tokens(deps(), current_actor())})


@access.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    admin.revoke_token_by_id(deps(), current_actor(), token_id)
    return "", 204


@access.post("/break-glass")
def open_break_glass():
    body = json_body()
    reason = required_str(body, "reason", 500)
    grant = breakglass.open_break_glass(deps(), current_actor(), reason, _int(body, "minutes"))
    return jsonify(grant), 201


@access.post("/break-glass/close")
def close_break_glass():
    breakglass.close_break_glass(deps(), current_actor())
    return "", 204


@access.get("/compliance/break-glass")
def break_glass_report():
    return jsonify({"grants": breakglass.break_glass_report(deps(), current_actor())})


@access.post("/me/totp")
def enroll_totp():
    return jsonify(totp.enroll_totp(deps(), current_actor())), 201


@access.post("/me/totp/confirm")
def confirm_totp():
    totp.confirm_totp(deps(), current_actor(), required_str(json_body(), "code", 10))
    return "", 204


def _str_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid.field(name, "a list of strings is required")
    return value


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid.field(name, "an integer is required")
    return value


def _role_scope(entry: dict[str, Any]) -> RoleScope:
    return RoleScope(
        required_str(entry, "role", 32),
        optional_str(entry, "department", 64),
        optional_str(entry, "branch", 64),
    )


def _user(summary: str, **kwargs: Any) -> dict[str, Any]:
    return op(summary, **kwargs) | {"parameters": path_param("user_id")}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/session": {
        "post": op(
            "Browser login: sets the session cookie, returns the CSRF token",
            auth=False,
            body=obj(username=STR, password=STR),
            errors=(401, 422, 423, 429),
        )
    },
    "/api/v1/users": {
        "get": op("Users with their scoped roles (admin)"),
        "post": op(
            "Create a user (admin)",
            body=obj(username=STR, password=STR, display_name=STR, roles=LIST),
            ok=201,
        ),
    },
    "/api/v1/users/{user_id}/roles": {
        "put": _user("Replace a user's roles and scopes (admin)", body=obj(roles=LIST), ok=204)
    },
    "/api/v1/users/{user_id}/lock": {
        "post": _user(
            "Lock an account: no logins, its tokens revoked (admin)",
            body=obj(reason=STR),
            ok=204,
        )
    },
    "/api/v1/users/{user_id}/unlock": {
        "post": _user("Unlock an account and clear its failed-login lockout (admin)", ok=204)
    },
    "/api/v1/users/{user_id}/training": {
        "get": _user("A user's training records"),
        "post": _user(
            "Record a completed course",
            body=obj(course=STR, completed_at=STR, valid_days=INT),
            ok=201,
        ),
    },
    "/api/v1/me/training": {"get": op("Your training records")},
    "/api/v1/compliance/training": {
        "get": op("Users whose required training lapsed (or lapses within within_days)")
    },
    "/api/v1/tokens": {
        "get": op("Your API tokens (never the secret)"),
        "post": op("Create a scoped, expiring API token", body=obj(name=STR, days=INT), ok=201),
    },
    "/api/v1/tokens/{token_id}/revoke": {
        "post": op("Revoke a token", ok=204) | {"parameters": path_param("token_id")}
    },
    "/api/v1/break-glass": {
        "post": op(
            "Open time-boxed emergency access (flagged in audit)",
            body=obj(reason=STR, minutes=INT),
            ok=201,
        )
    },
    "/api/v1/break-glass/close": {"post": op("Close your break-glass access", ok=204)},
    "/api/v1/compliance/break-glass": {"get": op("Break-glass grants, for review")},
    "/api/v1/me/totp": {"post": op("Start TOTP enrolment: a secret and otpauth URI", ok=201)},
    "/api/v1/me/totp/confirm": {
        "post": op("Confirm TOTP enrolment with a first code", body=obj(code=STR), ok=204)
    },
}
