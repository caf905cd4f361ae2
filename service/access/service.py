"""Identity: users, scoped roles, passwords and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, Select, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from service.access.models import ApiToken, BreakGlassGrant, TrainingRecord, User, UserRole
from service.access.permissions import PERMISSIONS, REQUIRED_TRAINING, allows
from service.clock import aware
from service.errors import Conflict, Forbidden, Invalid, Unauthenticated

ROLES = (
    "front_desk",
    "reviewer",
    "department_staff",
    "data_officer",
    "process_owner",
    "compliance",
    "auditor",
    "admin",
    "supervisor",
)

# Oversees staff: takes back tasks they hold, sees what they hold (in the supervisor's scope).
SUPERVISOR = "supervisor"

# Roles whose tasks check someone else's work: separation of duties applies.
REVIEW_ROLES = frozenset({"reviewer", "data_officer", "compliance", "supervisor"})

TOKEN_PREFIX = "dst_"  # noqa: S105 - a prefix, not a secret
ALL_SCOPES = "*"
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so a login for an
# unknown name costs the same time as one with a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")
# A short list of passwords every guesser tries first; the policy refuses them.
_COMMON_PASSWORDS = frozenset(
    {
        "password123",
        "1234567890",
        "qwertyuiop",
        "123456789a",
        "password1234",
        "iloveyou123",
        "administrator",
        "changeme123",
        "welcome123",
        "datasteward",
    }
)


@dataclass(frozen=True)
class RoleScope:
    """A role held within an optional department and branch (None: everywhere)."""

    role: str
    department: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the use cases see it."""

    id: int
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    client_addr: str | None = None
    # Permissions the credential was limited to; None means all the roles allow.
    scopes: frozenset[str] | None = None
    role_scopes: tuple[RoleScope, ...] = ()
    # The id of an active break-glass grant, which lifts the branch scope.
    break_glass_id: int | None = None
    # The latest expiry of each required course, read with the credential so
    # the training gate needs no query of its own; None when not read.
    trained_until: tuple[tuple[str, datetime | None], ...] | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def primary_role(self) -> str | None:
        return min(self.roles) if self.roles else None

    def scope_of(self, role: str) -> RoleScope:
        for scope in self.role_scopes:
            if scope.role == role:
                return scope
        return RoleScope(role)


SYSTEM = Actor(id=0, username="system", roles=frozenset({"system"}))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_username(username: str) -> None:
    """A name people can read back and tell apart: no spaces or invisible characters, NFKC form.

    Full-width or other compatibility forms ("ｆｒｏｎｔｄｅｓｋ") are refused
    with their plain form named, so two usernames cannot look alike that way;
    a name differing from another only in case is refused where it is created.
    """
    if not 0 < len(username) <= 64:
        raise Invalid.field("username", "between 1 and 64 characters")
    if any(unicodedata.category(char)[0] in "CZ" for char in username):
        raise Invalid.field("username", "must not contain spaces, control or invisible characters")
    plain = unicodedata.normalize("NFKC", username)
    if plain != username:
        raise Invalid.field("username", f"use the plain form of the characters: {plain!r}")


def check_password_policy(password: str, username: str = "") -> None:
    """Length over composition (NIST SP 800-63B): long, not common, not the username."""
    reason = _password_problem(password, username)
    if reason:
        raise Invalid(f"password {reason}", details=[{"field": "password", "reason": reason}])


def _password_problem(password: str, username: str) -> str | None:
    if len(password) < 10:
        return "must be at least 10 characters"
    if len(password) > 256:
        return "must be at most 256 characters"
    if password.lower() in _COMMON_PASSWORDS:
        return "is too common"
    if len(set(password)) < 5:
        return "must use at least 5 different characters"
    if username and username.lower() in password.lower():
        return "must not contain the username"
    return None


def check_roles(roles: Iterable[str]) -> None:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise Invalid("unknown role", details=[{"field": "roles", "reason": f"unknown: {unknown}"}])


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: list[str],
    now: datetime,
    department: str | None = None,
    branch: str | None = None,
    trained_until: datetime | None = None,
) -> int:
    """Create a user; `trained_until` records every course their roles require."""
    check_roles(roles)
    check_username(username)
    check_password_policy(password, username)
    same = select(User.username).where(func.lower(User.username) == username.lower())
    existing = session.scalar(same)
    if existing is not None:
        raise Conflict(f"user {existing!r} already exists")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        department=department,
        branch=branch,
        created_at=now,
    )
    session.add(user)
    session.flush()
    session.add_all(UserRole(user_id=user.id, role=role) for role in sorted(set(roles)))
    if trained_until is not None:
        from service.access.training import record_required_training

        record_required_training(session, user.id, roles, now, trained_until)
    return user.id


def set_roles(session: Session, user_id: int, scopes: list[RoleScope]) -> None:
    """Replace the user's roles with these (each with its optional scope)."""
    check_roles(s.role for s in scopes)
    session.query(UserRole).filter(UserRole.user_id == user_id).delete()
    session.add_all(
        UserRole(user_id=user_id, role=s.role, department=s.department, branch=s.branch)
        for s in {s.role: s for s in scopes}.values()
    )


def verify_credentials(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def issue_token(
    session: Session,
    user_id: int,
    now: datetime,
    ttl: timedelta,
    scopes: Iterable[str] | None = None,
    name: str | None = None,
) -> tuple[str, datetime]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        ApiToken(
            user_id=user_id,
            token_hash=_token_hash(token),
            scopes=" ".join(sorted(scopes)) if scopes is not None else ALL_SCOPES,
            name=name,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


def revoke_token(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(ApiToken).where(ApiToken.token_hash == _token_hash(token)).values(revoked_at=now)
    )


def actor_for_token(session: Session, token: str, now: datetime) -> Actor:
    """The actor a bearer token stands for, with roles, scopes and break-glass: one query."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("malformed token")
    found = session.connection().execute(_ACTOR, {"token_hash": _token_hash(token), "now": now})
    rows = found.all()
    if not rows:
        raise Unauthenticated("unknown token")
    first = rows[0]
    if first.revoked_at is not None:
        raise Unauthenticated("token revoked")
    if aware(first.expires_at) <= now:
        raise Unauthenticated("token expired")
    return _actor_from_rows(rows)


def _actor_query() -> Select[Any]:
    """Every request's credential check: built once, run with the token's hash and the time."""
    now: Any = bindparam("now")
    active_grant = (
        select(func.max(BreakGlassGrant.id))
        .where(
            and_(
                BreakGlassGrant.user_id == User.id,
                BreakGlassGrant.ended_at.is_(None),
                BreakGlassGrant.expires_at > now,
            )
        )
        .scalar_subquery()
    )
    trained_until = [
        select(func.max(TrainingRecord.expires_at))
        .where(TrainingRecord.user_id == User.id, TrainingRecord.course == course)
        .scalar_subquery()
        .label(f"trained_until_{number}")
        for number, course in enumerate(_COURSES)
    ]
    return (
        select(
            User.id,
            User.username,
            ApiToken.scopes,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            UserRole.role,
            UserRole.department,
            UserRole.branch,
            active_grant.label("break_glass_id"),
            *trained_until,
        )
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(ApiToken.token_hash == bindparam("token_hash"), User.active.is_(True))
    )


_COURSES = tuple(sorted(REQUIRED_TRAINING))
_ACTOR = _actor_query()


def _actor_from_rows(rows: Sequence[Row[Any]]) -> Actor:
    first = rows[0]
    scopes = None if first.scopes == ALL_SCOPES else frozenset(first.scopes.split())
    role_scopes = tuple(RoleScope(r.role, r.department, r.branch) for r in rows if r.role)
    return Actor(
        id=first.id,
        username=first.username,
        roles=frozenset(s.role for s in role_scopes),
        scopes=scopes,
        role_scopes=role_scopes,
        break_glass_id=first.break_glass_id,
        trained_until=tuple(
            (course, _aware_or_none(getattr(first, f"trained_until_{number}")))
            for number, course in enumerate(_COURSES)
        ),
    )


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


def roles_of(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def require_permission(actor: Actor, permission: str) -> None:
    """The HTTP gate's matrix, for a use case that must not trust its caller to have applied it.

    The system actor (beat jobs, the command line) passes.
    """
    if "system" in actor.roles or allows(actor.roles, permission, actor.scopes):
        return
    raise Forbidden(f"not allowed to {PERMISSIONS[permission]}")


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Usernames of these user ids, in one query (ids that are None or 0 name nobody)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row.id: row.username for row in rows}
