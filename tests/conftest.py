"""Fixtures shared by every layer: backends, deps, the Flask app and users.

Backends: every test that takes `deps` runs on SQLite and on PostgreSQL. The
PostgreSQL run needs DATASTEWARD_TEST_POSTGRES_URL (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); the suite creates
its own fresh databases there and drops them at the end. Without it those
tests skip, unless DATASTEWARD_TEST_REQUIRE_SERVICES=1 (as in CI), which turns
a missing service into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.access.service import RoleScope, create_user, set_roles
from service.config import Settings
from service.db import Base, KeystoreBase, with_database
from service.definitions.service import install_shipped
from service.deps import Deps

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PASSWORD = "correct horse battery"
REQUIRE_SERVICES = os.environ.get("DATASTEWARD_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("DATASTEWARD_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("DATASTEWARD_TEST_REDIS_URL", "")
HOW_TO_ENABLE = {
    "postgres": "set DATASTEWARD_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "redis": "set DATASTEWARD_TEST_REDIS_URL=redis://127.0.0.1:6379/15",
}


def need_service(name: str) -> None:
    """Skip (or, in CI, fail) when a server the test needs is not configured."""
    configured = {"postgres": POSTGRES_URL, "redis": REDIS_URL}[name]
    if configured:
        return
    message = f"{name} is not configured: {HOW_TO_ENABLE[name]}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


class FixedClock:
    """A clock tests move by hand.

    It starts later than the real clock: SpiffWorkflow also compares date timers
    with the real time, so a test clock in the past would see them fire at once.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 3, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Argon2 at its cheapest: the tests exercise logic, not the hash's cost."""
    from argon2 import PasswordHasher

    from service.access import service as access

    saved = access._hasher
    access._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    yield
    access._hasher = saved


# --- PostgreSQL: one pair of fresh databases per test run -----------------------------


@pytest.fixture(scope="session")
def postgres_urls() -> Iterator[tuple[str, str]]:
    need_service("postgres")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    run = f"ds_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = (run, f"{run}_keys")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    urls = (with_database(POSTGRES_URL, names[0]), with_database(POSTGRES_URL, names[1]))
    from service.migrations import upgrade

    upgrade(urls[0])
    keystore = create_engine(urls[1])
    KeystoreBase.metadata.create_all(keystore)
    keystore.dispose()
    yield urls
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(urls: tuple[str, str]) -> None:
    engine = create_engine(urls[0])
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": bytes(32)}
        )
    engine.dispose()
    keystore = create_engine(urls[1])
    with keystore.begin() as conn:
        keystore_tables = ", ".join(t.name for t in KeystoreBase.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {keystore_tables}"))
    keystore.dispose()


# --- SQLite: a migrated template copied per test ---------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from service.migrations import upgrade

    folder = tmp_path_factory.mktemp("sqlite-template")
    upgrade(f"sqlite:///{folder / 'datasteward.sqlite'}")
    keystore = create_engine(f"sqlite:///{folder / 'keystore.sqlite'}")
    KeystoreBase.metadata.create_all(keystore)
    keystore.dispose()
    return folder


# Tokens outlive the clock jumps of deadline tests (weeks at a time).
TEST_SETTINGS: dict = {"processes_dir": str(ROOT / "processes"), "token_ttl_hours": 24 * 365 * 10}


def _sqlite_settings(template: Path, var_dir: Path) -> Settings:
    for name in ("datasteward.sqlite", "keystore.sqlite"):
        shutil.copy(template / name, var_dir / name)
    return Settings(var_dir=str(var_dir), **TEST_SETTINGS).resolved()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if backend == "sqlite":
        return _sqlite_settings(request.getfixturevalue("sqlite_template"), tmp_path)
    urls = request.getfixturevalue("postgres_urls")
    _truncate_postgres(urls)
    base = Settings(var_dir=str(tmp_path), **TEST_SETTINGS)
    return replace(base, database_url=urls[0], keystore_url=urls[1]).resolved()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def deps(settings: Settings, clock: FixedClock) -> Iterator[Deps]:
    from service.bootstrap import build_deps
    from service.signing import load_signing_key

    published: list[tuple[str, str, dict]] = []
    built = build_deps(
        settings,
        create_keys=True,
        publish=lambda job_id, name, kwargs: published.append((job_id, name, kwargs)),
    )
    built.clock = clock
    built.extras["published"] = published
    load_signing_key(settings, create=True)  # as `datasteward init` does
    with built.unit_of_work() as uow:
        install_shipped(uow.session, built.engine, Path(settings.processes_dir), clock())
        uow.commit()
    yield built
    built.db.dispose()


@pytest.fixture
def users(deps: Deps) -> dict[str, int]:
    """One user per role, plus a second front-desk user and a second reviewer."""
    people = {
        "frontdesk": ["front_desk"],
        "frontdesk2": ["front_desk"],
        "reviewer": ["reviewer"],
        "reviewer2": ["reviewer"],
        "dept": ["department_staff"],
        "officer": ["data_officer"],
        "owner": ["process_owner"],
        "compliance": ["compliance"],
        "auditor": ["auditor"],
        "admin": ["admin"],
        "allrounder": ["front_desk", "reviewer"],
    }
    return add_users(deps, people)


def add_users(deps: Deps, people: dict[str, list[str]]) -> dict[str, int]:
    """Create trained users (password PASSWORD) with the given roles; returns their ids."""
    return {username: add_user(deps, username, roles) for username, roles in people.items()}


def add_user(
    deps: Deps,
    username: str,
    roles: list[str],
    *,
    trained_days: float = 365,
    branch: str | None = None,
    department: str | None = None,
    scopes: list[RoleScope] | None = None,
) -> int:
    """One user (password PASSWORD), trained for `trained_days`, at a home branch/department,
    holding `roles` unscoped or, with `scopes`, as scoped there; returns the id."""
    with deps.unit_of_work() as uow:
        user_id = create_user(
            uow.session,
            username=username,
            password=PASSWORD,
            display_name=username,
            roles=roles,
            now=deps.now(),
            branch=branch,
            department=department,
            trained_until=deps.now() + timedelta(days=trained_days),
        )
        if scopes:
            set_roles(uow.session, user_id, scopes)
        uow.commit()
    return user_id


@pytest.fixture
def app(deps: Deps):
    from service.app import create_app

    flask_app = create_app(deps.settings, deps)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app, users):
    return app.test_client()


TEST_PROCEDURES = ROOT / "tests" / "data" / "procedures"


@pytest.fixture
def install_procedure(deps: Deps):
    """Install a tiny procedure from tests/data/procedures/<name> as published version 1."""
    import hashlib

    from service.definitions.models import ProcedureVersion
    from service.definitions.service import content_hash, read_procedure_folder

    def install(name: str) -> int:
        files = read_procedure_folder(TEST_PROCEDURES / name)
        with deps.unit_of_work() as uow:
            version = ProcedureVersion(
                procedure=files.procedure,
                number=1,
                status="published",
                content_hash=content_hash(files.bpmn, files.forms),
                diagram_hash=hashlib.sha256(files.bpmn.encode()).hexdigest(),
                bpmn=files.bpmn,
                forms=files.forms,
                summary="test procedure",
                created_at=deps.now(),
                published_at=deps.now(),
            )
            uow.session.add(version)
            uow.session.flush()
            uow.commit()
            return version.id

    return install


# The per-user API client is used by the API, process and browser layers alike.
from tests.api.conftest import api  # noqa: E402, F401
