"""`datasteward check-config`: what is wrong with a deployment's settings, before it starts.

Each check returns `Problem`s naming the variable to fix. Errors stop a
production start (exit status 1); warnings are worth reading but not fatal.
The checks read settings and key files only: they never connect anywhere.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from service.config import PREFIX, Settings

ERROR, WARNING = "error", "warning"
KNOWN_ENVS = ("development", "test", "production")
DEV_SECRET = Settings.secret_key
MIN_SECRET_LENGTH = 32
WEAK_WORDS = (
    "secret",
    "password",
    "changeme",
    "change-me",
    "dev",
    "test",
    "example",
    "insecure",
    "production",
    "datasteward",
    "key",
)
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
# DATASTEWARD_* variables read outside Settings.
OTHER_VARIABLES = frozenset({"DATASTEWARD_DEBUG"})


@dataclass(frozen=True)
class Problem:
    severity: str
    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity:7} {self.variable}: {self.message}"


def check(settings: Settings, environ: Mapping[str, str]) -> list[Problem]:
    """Every problem found, errors first."""
    checks: list[Callable[[Settings, Mapping[str, str]], Iterable[Problem]]] = [
        check_environment_name,
        check_unknown_variables,
        check_debug,
        check_secret_key,
        check_databases,
        check_key_store_apart,
        check_broker,
        check_keys,
        check_notifications,
    ]
    found = [problem for each in checks for problem in each(settings, environ)]
    return sorted(found, key=lambda p: p.severity != ERROR)


def _prod_error(settings: Settings) -> str:
    return ERROR if settings.is_production else WARNING


def check_environment_name(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    if settings.env not in KNOWN_ENVS:
        yield Problem(
            ERROR,
            "DATASTEWARD_ENV",
            f"{settings.env!r} is not one of {', '.join(KNOWN_ENVS)}; "
            "the production checks are off until it says 'production'",
        )


def check_unknown_variables(_settings: Settings, env: Mapping[str, str]) -> Iterable[Problem]:
    known = {PREFIX + f.name.upper() for f in fields(Settings) if f.name != "extra"}
    for name in sorted(env):
        test_only = name.startswith(PREFIX + "TEST_")
        if name.startswith(PREFIX) and not test_only and name not in known | OTHER_VARIABLES:
            yield Problem(WARNING, name, "is not a setting Datasteward reads (a typo?)")


def check_debug(settings: Settings, env: Mapping[str, str]) -> Iterable[Problem]:
    if not settings.is_production:
        return
    for name in ("DATASTEWARD_DEBUG", "FLASK_DEBUG"):
        if env.get(name, "").strip().lower() not in ("", "0", "false", "no", "off"):
            yield Problem(ERROR, name, "debug is on in production; unset it")


def check_secret_key(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    variable, secret = "DATASTEWARD_SECRET_KEY", settings.secret_key
    if secret == DEV_SECRET:
        yield Problem(_prod_error(settings), variable, "is the development value; set a secret")
        return
    reason = secret_weakness(secret)
    if reason:
        yield Problem(_prod_error(settings), variable, reason)


def secret_weakness(secret: str) -> str | None:
    """Why a secret key is weak, or None (length, variety, dictionary words)."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is {len(secret)} characters; use at least {MIN_SECRET_LENGTH} random ones"
    if len(set(secret)) < 12:
        return "repeats too few characters to be random"
    # A random secret may contain a short word by chance (one in a few hundred
    # generated keys holds "dev" or "test"); refuse only when what is left once
    # the words are taken out is too short to be a secret on its own.
    lowered = secret.lower()
    words = [w for w in WEAK_WORDS if w in lowered]
    rest = lowered
    for word in words:
        rest = rest.replace(word, "")
    if words and len(_without_runs(rest)) < MIN_SECRET_LENGTH:
        return f"contains the word {words[0]!r}; generate one: {GENERATE}"
    return None


def _without_runs(text: str) -> str:
    """`text` without runs of four or more consecutive characters ("0123", "abcd", "4321")."""
    kept, i = [], 0
    while i < len(text):
        j = i + 1
        step = ord(text[j]) - ord(text[i]) if j < len(text) else 0
        if step in (1, -1):
            while j < len(text) and ord(text[j]) - ord(text[j - 1]) == step:
                j += 1
        if j - i < 4:
            kept.append(text[i:j])
        i = j
    return "".join(kept)


def check_databases(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    for variable, url in (
        ("DATASTEWARD_DATABASE_URL", settings.database_url),
        ("DATASTEWARD_KEYSTORE_URL", settings.keystore_url),
    ):
        parsed = _parse(url)
        if parsed is None:
            yield Problem(ERROR, variable, "is not a database URL")
        elif parsed.get_backend_name() == "sqlite" and settings.is_production:
            yield Problem(ERROR, variable, "is SQLite; production needs PostgreSQL")


def check_key_store_apart(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    data, keys = _parse(settings.database_url), _parse(settings.keystore_url)
    if data is None or keys is None:
        return
    variable = "DATASTEWARD_KEYSTORE_URL"
    if _same_database(data, keys):
        yield Problem(
            ERROR,
            variable,
            "is the data database; the key store must be a separate database so that "
            "a data backup never holds a usable key",
        )
    elif data.get_backend_name() != "sqlite" and (data.host, data.port) == (keys.host, keys.port):
        yield Problem(
            WARNING,
            variable,
            "is on the same server as the data database; back them up separately "
            "(the key store with a short retention) and prefer separate servers",
        )


def _same_database(a: URL, b: URL) -> bool:
    if "sqlite" in (a.get_backend_name(), b.get_backend_name()):
        return _sqlite_path(a) == _sqlite_path(b)
    return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)


def _sqlite_path(url: URL) -> str:
    database = url.database or ":memory:"
    return database if database == ":memory:" else str(Path(database).resolve())


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except ArgumentError:
        return None


def check_broker(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    if not settings.is_production:
        return
    if settings.uses_embedded_broker:
        yield Problem(
            ERROR,
            "DATASTEWARD_BROKER_URL",
            "is the embedded SQLite broker; production needs Redis (set DATASTEWARD_REDIS_URL)",
        )
    if not settings.redis_url:
        yield Problem(ERROR, "DATASTEWARD_REDIS_URL", "is not set; production needs Redis")


def check_notifications(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    from service.notifications.delivery import LANGUAGES

    if settings.notify_language not in LANGUAGES:
        yield Problem(
            ERROR, "DATASTEWARD_NOTIFY_LANGUAGE", f"must be one of {', '.join(LANGUAGES)}"
        )
    if settings.notify_url and not settings.notify_url.startswith(("https://", "http://")):
        yield Problem(ERROR, "DATASTEWARD_NOTIFY_URL", "must be an http(s) URL")
    elif settings.notify_url.startswith("http://") and settings.is_production:
        yield Problem(
            ERROR, "DATASTEWARD_NOTIFY_URL", "sends customers' numbers in clear; use https"
        )
    elif not settings.notify_url and settings.is_production:
        yield Problem(
            WARNING,
            "DATASTEWARD_NOTIFY_URL",
            "is not set: customer notifications are queued, never sent, and erased after "
            f"{settings.notify_retention_days} days",
        )
    if settings.notify_retention_days < 1:
        yield Problem(ERROR, "DATASTEWARD_NOTIFY_RETENTION_DAYS", "must be at least 1")


def check_keys(settings: Settings, _env: Mapping[str, str]) -> Iterable[Problem]:
    from service.vault.keys import load_vault_keys

    try:
        load_vault_keys(settings, create=False)
    except Exception as error:  # noqa: BLE001 - any failure to load is the finding
        yield Problem(
            _prod_error(settings),
            "DATASTEWARD_KEYRING_FILE",
            f"the vault keys cannot be loaded: {error}",
        )
    signing = Path(settings.signing_key_file)
    if not signing.exists():
        yield Problem(
            _prod_error(settings),
            "DATASTEWARD_SIGNING_KEY_FILE",
            f"no signing key at {signing}; run `datasteward init`",
        )
    yield from _key_file_modes(settings)


def _key_file_modes(settings: Settings) -> Iterable[Problem]:
    files = {
        "DATASTEWARD_KEYRING_FILE": "" if settings.keyring else settings.keyring_file,
        "DATASTEWARD_BLIND_INDEX_KEY_FILE": settings.blind_index_key_file,
        "DATASTEWARD_SIGNING_KEY_FILE": settings.signing_key_file,
    }
    for variable, name in files.items():
        path = Path(name) if name else None
        if path is not None and path.exists():
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                yield Problem(
                    _prod_error(settings),
                    variable,
                    f"{path} is readable by others (mode {mode:o}); chmod 600 it",
                )


def report(problems: list[Problem], settings: Settings) -> str:
    if not problems:
        return f"configuration OK ({settings.env})"
    errors = sum(p.severity == ERROR for p in problems)
    lines = [str(p) for p in problems]
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s) ({settings.env})")
    return "\n".join(lines)
