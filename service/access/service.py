"""Identity: users, roles, passwords and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.access.models import ApiToken, User, UserRole
from service.clock import aware
from service.errors import Conflict, Invalid, Unauthenticated

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

# Roles whose tasks check someone else's work: separation of duties applies.
REVIEW_ROLES = frozenset({"reviewer", "data_officer", "compliance", "supervisor"})

TOKEN_PREFIX = "dst_"  # noqa: S105 - a prefix, not a secret
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so a login for an
# unknown name costs the same time as one with a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the use cases see it."""

    id: int
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    client_addr: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def primary_role(self) -> str | None:
        return min(self.roles) if self.roles else None


SYSTEM = Actor(id=0, username="system", roles=frozenset({"system"}))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_policy(password: str) -> None:
    if len(password) < 10:
        raise Invalid(
            "password too short",
            details=[{"field": "password", "reason": "must be at least 10 characters"}],
        )


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
) -> int:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise Invalid("unknown role", details=[{"field": "roles", "reason": f"unknown: {unknown}"}])
    check_password_policy(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
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
    return user.id


def verify_credentials(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def issue_token(
    session: Session, user_id: int, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        ApiToken(
            user_id=user_id, token_hash=_token_hash(token), created_at=now, expires_at=expires_at
        )
    )
    return token, expires_at


def revoke_token(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(ApiToken).where(ApiToken.token_hash == _token_hash(token)).values(revoked_at=now)
    )


def actor_for_token(session: Session, token: str, now: datetime) -> Actor:
    """The actor a bearer token stands for; one indexed query."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("malformed token")
    rows = session.execute(
        select(User.id, User.username, ApiToken.expires_at, ApiToken.revoked_at, UserRole.role)
        .join(ApiToken, ApiToken.user_id == User.id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(ApiToken.token_hash == _token_hash(token), User.active.is_(True))
    ).all()
    if not rows:
        raise Unauthenticated("unknown token")
    user_id, username, expires_at, revoked_at, _ = rows[0]
    if revoked_at is not None:
        raise Unauthenticated("token revoked")
    if aware(expires_at) <= now:
        raise Unauthenticated("token expired")
    roles = frozenset(row.role for row in rows if row.role)
    return Actor(id=user_id, username=username, roles=roles)


def roles_of(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
