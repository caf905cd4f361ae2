"""`datasteward check-config` names what is wrong with a deployment's settings."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from service.cli import main
from service.config import Settings
from service.ops.checkconfig import ERROR, WARNING, check

PG = "postgresql+psycopg://ds@db.internal:5432"
STRONG = secrets.token_urlsafe(48)


@pytest.fixture
def keyed_dir(tmp_path: Path) -> Path:
    """A var dir with real vault and signing keys, made by `datasteward init`'s key loader."""
    from service.signing import load_signing_key
    from service.vault.keys import load_vault_keys

    settings = Settings(var_dir=str(tmp_path)).resolved()
    load_vault_keys(settings, create=True)
    load_signing_key(settings, create=True)
    return tmp_path


def production(var_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        "DATASTEWARD_ENV": "production",
        "DATASTEWARD_VAR_DIR": str(var_dir),
        "DATASTEWARD_DATABASE_URL": f"{PG}/datasteward",
        "DATASTEWARD_KEYSTORE_URL": "postgresql+psycopg://ds@keys.internal:5432/keystore",
        "DATASTEWARD_REDIS_URL": "redis://redis.internal:6379/0",
        "DATASTEWARD_SECRET_KEY": STRONG,
        "DATASTEWARD_NOTIFY_URL": "https://sms.internal/v1/messages",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def problems(env: dict[str, str]) -> dict[str, str]:
    found = check(Settings.from_env(env), env)
    return {p.variable: p.severity for p in found}


def test_a_sound_production_configuration_has_no_problem(keyed_dir):
    assert problems(production(keyed_dir)) == {}


def test_the_development_secret_is_an_error_in_production(keyed_dir):
    env = production(keyed_dir, DATASTEWARD_SECRET_KEY="")
    assert problems(env) == {"DATASTEWARD_SECRET_KEY": ERROR}


@pytest.mark.parametrize(
    "secret", ["short-but-random-Zq81", "a" * 40, "my-production-secret-key-0123456789abcdef"]
)
def test_a_weak_secret_is_an_error_in_production(keyed_dir, secret):
    assert problems(production(keyed_dir, DATASTEWARD_SECRET_KEY=secret)) == {
        "DATASTEWARD_SECRET_KEY": ERROR
    }


@pytest.mark.parametrize(
    "secret",
    [
        "Qm7xK2pLr9Zt4WvBn8YcHs3Jd6FgTdevA5eUw1RkXo0NiPq_ZbLy-MaC",
        "testH7qL0xZ2vN9rB4kW1pS8yD3mF6jG5cT_uE-aR0oI7nQ2lK9hV4s",
    ],
)
def test_a_generated_secret_that_holds_a_short_word_by_chance_is_accepted(keyed_dir, secret):
    assert problems(production(keyed_dir, DATASTEWARD_SECRET_KEY=secret)) == {}


def test_debug_on_in_production_is_an_error(keyed_dir):
    env = production(keyed_dir, DATASTEWARD_DEBUG="1", FLASK_DEBUG="true")
    assert problems(env) == {"DATASTEWARD_DEBUG": ERROR, "FLASK_DEBUG": ERROR}


def test_the_key_store_in_the_data_database_is_an_error(keyed_dir):
    env = production(keyed_dir, DATASTEWARD_KEYSTORE_URL=f"{PG}/datasteward?options=x")
    assert problems(env) == {"DATASTEWARD_KEYSTORE_URL": ERROR}


def test_the_key_store_url_equal_to_the_data_url_is_an_error_even_in_development(tmp_path):
    url = f"sqlite:///{tmp_path}/one.sqlite"
    env = {"DATASTEWARD_DATABASE_URL": url, "DATASTEWARD_KEYSTORE_URL": url}
    assert problems(env)["DATASTEWARD_KEYSTORE_URL"] == ERROR


def test_the_key_store_on_the_data_server_is_a_warning(keyed_dir):
    env = production(keyed_dir, DATASTEWARD_KEYSTORE_URL=f"{PG}/keystore")
    assert problems(env) == {"DATASTEWARD_KEYSTORE_URL": WARNING}


def test_sqlite_and_the_embedded_broker_are_errors_in_production(keyed_dir):
    env = production(
        keyed_dir,
        DATASTEWARD_DATABASE_URL="",
        DATASTEWARD_KEYSTORE_URL="",
        DATASTEWARD_REDIS_URL="",
    )
    assert problems(env) == {
        "DATASTEWARD_DATABASE_URL": ERROR,
        "DATASTEWARD_KEYSTORE_URL": ERROR,
        "DATASTEWARD_BROKER_URL": ERROR,
        "DATASTEWARD_REDIS_URL": ERROR,
    }


def test_missing_keys_are_errors_in_production(tmp_path):
    found = problems(production(tmp_path))
    assert found["DATASTEWARD_KEYRING_FILE"] == ERROR
    assert found["DATASTEWARD_SIGNING_KEY_FILE"] == ERROR


def test_key_files_readable_by_others_are_errors_in_production(keyed_dir):
    os.chmod(keyed_dir / "keys" / "blind_index.key", 0o644)
    assert problems(production(keyed_dir)) == {"DATASTEWARD_BLIND_INDEX_KEY_FILE": ERROR}


def test_a_misspelt_variable_and_an_unknown_environment_are_reported(keyed_dir):
    env = production(keyed_dir, DATASTEWARD_DATABSE_URL="x", DATASTEWARD_ENV="prod")
    found = problems(env)
    assert found["DATASTEWARD_DATABSE_URL"] == WARNING
    assert found["DATASTEWARD_ENV"] == ERROR


def test_the_command_exits_1_on_errors_and_prints_each_problem(keyed_dir, monkeypatch, capsys):
    for name, value in production(keyed_dir, DATASTEWARD_SECRET_KEY="dev").items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 1
    out = capsys.readouterr().out
    assert "DATASTEWARD_SECRET_KEY" in out and "1 error(s)" in out


def test_the_command_exits_0_on_a_sound_configuration(keyed_dir, monkeypatch, capsys):
    for name, value in production(keyed_dir).items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    assert "configuration OK (production)" in capsys.readouterr().out


def test_customer_notifications_need_a_gateway_over_https_in_production(keyed_dir):
    assert problems(production(keyed_dir, DATASTEWARD_NOTIFY_URL="")) == {
        "DATASTEWARD_NOTIFY_URL": WARNING
    }
    clear = production(keyed_dir, DATASTEWARD_NOTIFY_URL="http://sms.internal/v1/messages")
    assert problems(clear) == {"DATASTEWARD_NOTIFY_URL": ERROR}
    assert problems(production(keyed_dir, DATASTEWARD_NOTIFY_URL="sms.internal")) == {
        "DATASTEWARD_NOTIFY_URL": ERROR
    }
    assert problems(production(keyed_dir, DATASTEWARD_NOTIFY_LANGUAGE="fr")) == {
        "DATASTEWARD_NOTIFY_LANGUAGE": ERROR
    }
    assert problems(production(keyed_dir, DATASTEWARD_NOTIFY_RETENTION_DAYS="0")) == {
        "DATASTEWARD_NOTIFY_RETENTION_DAYS": ERROR
    }
