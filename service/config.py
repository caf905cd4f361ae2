"""Every setting Datasteward reads, in one place.

Each variable is read from the environment once, by `Settings.from_env`. The
defaults describe the embedded run: SQLite files and an SQLite-backed Celery
broker under ``./var``, so nothing has to be installed to try the service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PREFIX = "DATASTEWARD_"


class SettingsError(ValueError):
    """A setting has a value the service cannot use."""


def _var_path(var_dir: str, name: str) -> str:
    return str(Path(var_dir) / name)


@dataclass(frozen=True)
class Settings:
    """Service configuration; `from_env` documents the variable behind each field."""

    env: str = "development"
    var_dir: str = "var"
    database_url: str = ""
    keystore_url: str = ""
    redis_url: str = ""
    broker_url: str = ""
    secret_key: str = "dev-insecure-secret-change-me"  # noqa: S105 - refused in production
    keyring_file: str = ""
    keyring: str = ""
    blind_index_key_file: str = ""
    signing_key_file: str = ""
    processes_dir: str = "processes"
    host: str = "127.0.0.1"
    port: int = 8000
    token_ttl_hours: int = 12
    timer_interval_s: int = 30
    # Customer notifications: the SMS gateway's HTTP API (none: they wait in the queue).
    notify_url: str = ""
    notify_token: str = ""
    notify_language: str = "zh-CN"
    notify_interval_s: int = 30
    notify_retention_days: int = 30
    outbox_interval_s: int = 10
    max_request_bytes: int = 4 * 1024 * 1024
    review_interval_months: int = 3  # periodic procedure review: quarterly by default
    # Archived audit records older than this leave the live database (PIPL Art. 56: 3 years).
    audit_retention_days: int = 1095
    archive_dir: str = ""
    archive_segment_max_records: int = 100_000
    checkpoint_interval_s: int = 300
    demo_users: bool = False
    document_store_dir: str = ""
    max_document_bytes: int = 3 * 1024 * 1024
    broker_visibility_timeout_s: int = 3600
    rotation_batch_size: int = 500
    require_totp: bool = False
    grant_ttl_hours: int = 24
    grant_max_views: int = 5
    request_working_days: int = 15
    request_ceiling_days: int = 30
    calendar_dir: str = ""
    # OpenID Connect login (optional): on when the issuer and the client id are set.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_provider_name: str = ""
    oidc_redirect_uri: str = ""
    oidc_scopes: str = "openid profile email"
    oidc_username_claim: str = "preferred_username"
    oidc_auto_create_users: bool = False
    oidc_roles_claim: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DATASTEWARD_*`` variables (``DATABASE_URL``/``REDIS_URL`` too)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.name, raw, f.type)
        values.setdefault("database_url", env.get("DATABASE_URL", ""))
        values.setdefault("redis_url", env.get("REDIS_URL", ""))
        return cls(**values).resolved()  # type: ignore[arg-type]

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings (paths under var_dir, broker)."""
        var = self.var_dir
        broker = (
            self.broker_url or self.redis_url or f"sqla+sqlite:///{_var_path(var, 'broker.sqlite')}"
        )
        return replace(
            self,
            database_url=self.database_url or f"sqlite:///{_var_path(var, 'datasteward.sqlite')}",
            keystore_url=self.keystore_url or f"sqlite:///{_var_path(var, 'keystore.sqlite')}",
            broker_url=broker,
            keyring_file=self.keyring_file or _var_path(var, "keys/keyring.json"),
            blind_index_key_file=self.blind_index_key_file
            or _var_path(var, "keys/blind_index.key"),
            calendar_dir=self.calendar_dir or _var_path(var, "calendar"),
            signing_key_file=self.signing_key_file or _var_path(var, "keys/signing.pem"),
            document_store_dir=self.document_store_dir or _var_path(var, "documents"),
            archive_dir=self.archive_dir or _var_path(var, "archive"),
        )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")


def _coerce(name: str, raw: str, annotation: object) -> object:
    if annotation in (int, "int"):
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(
                f"{PREFIX}{name.upper()}: expected an integer, got {raw!r}"
            ) from exc
    if annotation in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off", ""}:
            raise SettingsError(f"{PREFIX}{name.upper()}: expected a boolean, got {raw!r}")
        return lowered in {"1", "true", "yes", "on"}
    return raw
