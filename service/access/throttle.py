"""Login throttling: account lockout after repeated failures, and a per-address rate limit.

Redis-backed when `settings.redis_url` is set (shared by every replica), kept
in the data database otherwise. Both implement `LoginThrottle`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.access.models import LoginAttempt
from service.clock import aware
from service.deps import Deps
from service.errors import DomainError

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
RATE_PER_MINUTE = 20
REDIS_PREFIX = "ds:login:"


class TooManyRequests(DomainError):
    status, code = 429, "too_many_requests"


class AccountLocked(DomainError):
    status, code = 423, "account_locked"


class LoginThrottle(Protocol):
    def check(self, session: Session, username: str, addr: str, now: datetime) -> None:
        """Raise TooManyRequests or AccountLocked when this attempt must not be tried."""

    def note(self, session: Session, username: str, addr: str, now: datetime, ok: bool) -> None:
        """Remember the attempt's outcome."""

    def clear(self, session: Session, username: str) -> None:
        """Forget the account's failed logins (an administrator unlocked it)."""


class DatabaseThrottle:
    def check(self, session: Session, username: str, addr: str, now: datetime) -> None:
        recent = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.client_addr == addr, LoginAttempt.at > now - timedelta(minutes=1))
        )
        if (recent or 0) >= RATE_PER_MINUTE:
            raise TooManyRequests("too many login attempts from this address; wait a minute")
        last_ok = session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)
            )
        )
        since = max(now - FAILURE_WINDOW, aware(last_ok)) if last_ok else now - FAILURE_WINDOW
        count, last = session.execute(
            select(func.count(), func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.at > since,
            )
        ).one()
        if count >= MAX_FAILURES and aware(last) + LOCKOUT > now:
            raise AccountLocked(_locked_message(aware(last) + LOCKOUT))

    def note(self, session: Session, username: str, addr: str, now: datetime, ok: bool) -> None:
        session.add(LoginAttempt(username=username, client_addr=addr, at=now, succeeded=ok))

    def clear(self, session: Session, username: str) -> None:
        session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.username == username, LoginAttempt.succeeded.is_(False)
            )
        )


class RedisThrottle:
    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)

    def check(self, session: Session, username: str, addr: str, now: datetime) -> None:
        rate_key = f"{REDIS_PREFIX}rate:{_digest(addr)}:{now:%Y%m%d%H%M}"
        pipe = self.redis.pipeline()
        pipe.incr(rate_key)
        pipe.expire(rate_key, 120)
        pipe.ttl(f"{REDIS_PREFIX}lock:{_digest(username)}")
        attempts, _, lock_ttl = pipe.execute()
        if int(attempts) > RATE_PER_MINUTE:
            raise TooManyRequests("too many login attempts from this address; wait a minute")
        if int(lock_ttl) > 0:
            raise AccountLocked(_locked_message(now + timedelta(seconds=int(lock_ttl))))

    def note(self, session: Session, username: str, addr: str, now: datetime, ok: bool) -> None:
        key = _digest(username)
        if ok:
            self.redis.delete(f"{REDIS_PREFIX}fail:{key}")
            return
        failures = self.redis.incr(f"{REDIS_PREFIX}fail:{key}")
        self.redis.expire(f"{REDIS_PREFIX}fail:{key}", int(FAILURE_WINDOW.total_seconds()))
        if int(failures) >= MAX_FAILURES:
            self.redis.set(f"{REDIS_PREFIX}lock:{key}", 1, ex=int(LOCKOUT.total_seconds()))
            self.redis.delete(f"{REDIS_PREFIX}fail:{key}")

    def clear(self, session: Session, username: str) -> None:
        key = _digest(username)
        self.redis.delete(f"{REDIS_PREFIX}fail:{key}", f"{REDIS_PREFIX}lock:{key}")


def throttle_for(deps: Deps) -> LoginThrottle:
    url = deps.settings.redis_url
    return _redis_throttle(url) if url else DatabaseThrottle()


@cache
def _redis_throttle(url: str) -> RedisThrottle:
    return RedisThrottle(url)


def purge_attempts(deps: Deps, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop login attempts too old to matter for lockout or rate limiting."""
    with deps.unit_of_work() as uow:
        result = uow.session.execute(
            delete(LoginAttempt).where(LoginAttempt.at < deps.now() - older_than)
        )
        uow.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _locked_message(until: datetime) -> str:
    return f"too many failed logins: this account is locked until {until:%Y-%m-%d %H:%M} UTC"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
