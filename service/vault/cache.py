"""Cached subject values in Redis, and their removal when a subject is shredded.

Anything cached about a subject lives under ``datasteward:subject:<pseudonym>:``
so that shredding can remove all of it with one scan of that prefix.
"""

from __future__ import annotations

from service.config import Settings

PREFIX = "datasteward:subject:"


def subject_prefix(subject: str) -> str:
    return f"{PREFIX}{subject}:"


def purge_subject(settings: Settings, subject: str) -> int:
    """Delete every cache entry of the subject; returns how many there were (0 without Redis)."""
    if not settings.redis_url:
        return 0
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = list(client.scan_iter(match=subject_prefix(subject) + "*", count=500))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()
