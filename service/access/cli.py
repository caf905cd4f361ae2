"""`datasteward users`: user administration from the operator's console.

Every command goes through the same use cases as the admin API
(service/access/admin.py, training.py), so each change is validated and
audited the same way; the actor is the console operator (`cli:<login>`).
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from service.access.service import Actor, RoleScope
from service.config import Settings
from service.errors import Invalid


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="manage users, roles, tokens and training")
    sub = users.add_subparsers()
    _register_create(sub)
    sub.add_parser("list", help="list users and roles").set_defaults(handler=cmd_list)
    grant = sub.add_parser("grant", help="grant a role, optionally scoped")
    grant.add_argument("username")
    grant.add_argument("role")
    grant.add_argument("--department", help="limit the role to one department")
    grant.add_argument("--branch", help="limit the role to one branch")
    grant.set_defaults(handler=cmd_grant)
    revoke = sub.add_parser("revoke", help="take a role away")
    revoke.add_argument("username")
    revoke.add_argument("role")
    revoke.set_defaults(handler=cmd_revoke)
    _register_lock(sub)
    _register_tokens(sub)
    _register_training(sub)


def _register_create(sub: Any) -> None:
    create = sub.add_parser("create", help="create a user")
    create.add_argument("username")
    create.add_argument("--role", action="append", required=True, dest="roles")
    create.add_argument("--display-name")
    create.add_argument("--department")
    create.add_argument("--branch")
    create.add_argument("--password", help="read from a prompt when omitted")
    create.set_defaults(handler=cmd_create)


def _register_lock(sub: Any) -> None:
    lock = sub.add_parser("lock", help="lock an account (no logins, tokens revoked)")
    lock.add_argument("username")
    lock.add_argument("--reason", required=True)
    lock.set_defaults(handler=cmd_lock)
    unlock = sub.add_parser("unlock", help="unlock an account and clear its login lockout")
    unlock.add_argument("username")
    unlock.set_defaults(handler=cmd_unlock)


def _register_tokens(sub: Any) -> None:
    tokens = sub.add_parser("token", help="issue or revoke API tokens").add_subparsers()
    issue = tokens.add_parser("issue", help="issue a token for a user (printed once)")
    issue.add_argument("username")
    issue.add_argument("--name", default="cli")
    issue.add_argument("--days", type=int, default=30)
    issue.add_argument("--scope", action="append", dest="scopes", help="a permission; repeat")
    issue.set_defaults(handler=cmd_token_issue)
    revoke = tokens.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(handler=cmd_token_revoke)


def _register_training(sub: Any) -> None:
    training = sub.add_parser("training", help="record training").add_subparsers()
    add = training.add_parser("add", help="record a completed course")
    add.add_argument("username")
    add.add_argument("course")
    add.add_argument("--completed-at", help="ISO 8601 with time zone; default now")
    add.add_argument("--valid-days", type=int, default=365)
    add.set_defaults(handler=cmd_training_add)


def operator() -> Actor:
    """The console operator: acts as an administrator, recorded by login name."""
    return Actor(0, f"cli:{getpass.getuser()}"[:64], frozenset({"admin"}))


@contextmanager
def _deps(settings: Settings) -> Iterator[Any]:
    from service.bootstrap import build_deps

    deps = build_deps(settings)
    try:
        yield deps
    finally:
        deps.db.dispose()


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    password = args.password or getpass.getpass("password: ")
    fields = {
        "username": args.username,
        "password": password,
        "display_name": args.display_name or args.username,
        "roles": args.roles,
        "department": args.department,
        "branch": args.branch,
    }
    with _deps(settings) as deps:
        created = admin.add_user(deps, operator(), fields)
    roles = ", ".join(sorted(args.roles))
    print(f"created user {args.username} (id {created['id']}) with roles {roles}")
    return 0


def cmd_list(_args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        users = admin.list_users(deps)
    for user in users:
        roles = ", ".join(_scope_text(RoleScope(**r)) for r in user["roles"])
        state = "" if user["active"] else "  [locked]"
        print(f"{user['username']:16} {roles}{state}")
    return 0


def cmd_grant(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        scope = RoleScope(args.role, args.department, args.branch)
        held = admin.grant_role(deps, operator(), admin.user_id_of(deps, args.username), scope)
    print(f"{args.username} now holds: {', '.join(_scope_text(s) for s in held)}")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        held = admin.revoke_role(deps, operator(), admin.user_id_of(deps, args.username), args.role)
    print(f"{args.username} now holds: {', '.join(_scope_text(s) for s in held) or 'no role'}")
    return 0


def cmd_lock(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        admin.lock_user(deps, operator(), admin.user_id_of(deps, args.username), args.reason)
    print(f"locked {args.username}; its tokens are revoked")
    return 0


def cmd_unlock(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        admin.unlock_user(deps, operator(), admin.user_id_of(deps, args.username))
    print(f"unlocked {args.username}")
    return 0


def cmd_token_issue(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        user_id = admin.user_id_of(deps, args.username)
        issued = admin.create_token(deps, operator(), args.name, args.scopes, args.days, user_id)
    print(f"token for {args.username}, expires {issued['expires_at']} (shown once):")
    print(issued["token"])
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin

    with _deps(settings) as deps:
        admin.revoke_token_by_id(deps, operator(), args.token_id)
    print(f"revoked token {args.token_id}")
    return 0


def cmd_training_add(args: argparse.Namespace, settings: Settings) -> int:
    from service.access import admin, training

    with _deps(settings) as deps:
        completed = _moment(args.completed_at) if args.completed_at else deps.now()
        user_id = admin.user_id_of(deps, args.username)
        result = training.record_training(
            deps, operator(), user_id, args.course, completed, args.valid_days
        )
    print(f"recorded {args.course} for {args.username}, valid until {result['expires_at']}")
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid.field("completed_at", "an ISO 8601 date-time is required") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _scope_text(scope: RoleScope) -> str:
    limits = [
        f"{name}={value}"
        for name, value in (("department", scope.department), ("branch", scope.branch))
        if value
    ]
    return f"{scope.role}({', '.join(limits)})" if limits else scope.role
