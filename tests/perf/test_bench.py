"""The bench command: every figure present and positive (or null with a reason)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from service.bench.scratch import create_scratch
from service.config import Settings
from service.db import with_database
from tests.conftest import POSTGRES_URL, ROOT, need_service

NUMBERS = (
    "engine_cases_per_s",
    "service_cases_per_s",
    "service_to_engine_ratio",
    "http_complete_p50_ms",
    "http_complete_p99_ms",
    "http_completions_per_s",
    "http_paced_completions_per_s",
    "http_paced_p50_ms",
    "http_paced_p99_ms",
    "task_list_p99_ms",
    "open_tasks",
    "bytes_per_case",
    "audit_append_per_s",
    "audit_verify_per_s",
    "cores",
)
MAY_BE_MISSING = ("shred_per_s",)


def run_bench(*args: str, timeout: int = 600) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "bench", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_complete(result: dict, database: str) -> None:
    assert result["database"] == database
    assert result["spiffworkflow_version"]
    for key in NUMBERS:
        assert isinstance(result[key], int | float) and result[key] > 0, key
    for key in MAY_BE_MISSING:
        value = result[key]
        assert (value is None and result[f"{key}_reason"]) or value > 0, key


def test_bench_on_sqlite_reports_every_figure():
    assert_complete(run_bench("--sizes", "tiny"), "sqlite")


def test_bench_on_postgres_reports_every_figure_and_drops_its_database():
    need_service("postgres")
    before = bench_databases()
    assert_complete(run_bench("--sizes", "tiny", "--database", POSTGRES_URL), "postgresql")
    assert bench_databases() <= before


def bench_databases() -> set[str]:
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            query = text("SELECT datname FROM pg_database WHERE datname LIKE 'ds_bench_%'")
            return {row[0] for row in conn.execute(query)}
    finally:
        admin.dispose()


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> None:
    """Full runs take many minutes: only when asked for with ``-m soak``."""
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a soak run: select it with -m soak")


@pytest.mark.soak
@pytest.mark.usefixtures("soak")
def test_quick_bench_on_sqlite():
    assert_complete(run_bench("--quick"), "sqlite")


@pytest.mark.soak
@pytest.mark.usefixtures("soak")
def test_full_bench_on_sqlite():
    assert_complete(run_bench(timeout=7200), "sqlite")


@pytest.mark.soak
@pytest.mark.usefixtures("soak")
def test_full_bench_on_postgres():
    need_service("postgres")
    assert_complete(run_bench("--database", POSTGRES_URL, timeout=7200), "postgresql")


def test_a_server_url_names_another_database_with_its_query_and_password_kept():
    assert with_database("postgresql+psycopg://u:p%40ss@db.example:6432/postgres", "x") == (
        "postgresql+psycopg://u:p%40ss@db.example:6432/x"
    )
    socket = with_database("postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql", "x")
    assert socket == "postgresql+psycopg://postgres@/x?host=%2Fvar%2Frun%2Fpostgresql"
    assert make_url(socket).query == {"host": "/var/run/postgresql"}
    tls = with_database("postgresql+psycopg://u@h/postgres?sslmode=require", "x")
    assert make_url(tls).query == {"sslmode": "require"} and make_url(tls).database == "x"


def test_the_scratch_databases_keep_the_server_url_s_connection_options():
    need_service("postgres")
    url = _over_unix_socket(make_url(POSTGRES_URL)).update_query_dict(
        {"application_name": "ds-bench-test"}
    )
    scratch = create_scratch(url.render_as_string(hide_password=False), Settings())
    try:
        for scratch_url in (scratch.settings.database_url, scratch.settings.keystore_url):
            assert make_url(scratch_url).query == url.query, scratch_url
        engine = create_engine(scratch.settings.database_url)
        try:
            with engine.connect() as conn:
                name = conn.execute(text("SELECT current_setting('application_name')")).scalar()
        finally:
            engine.dispose()
        assert name == "ds-bench-test"
    finally:
        scratch.drop()
    assert not [n for n in bench_databases() if n in scratch._names]


def test_a_scratch_run_that_cannot_initialise_leaves_no_databases(monkeypatch):
    need_service("postgres")
    from service.bench import scratch as scratch_module

    def broken(_settings: Settings) -> None:
        raise RuntimeError("the migrations failed")

    monkeypatch.setattr(scratch_module, "_initialise", broken)
    before = bench_databases()
    with pytest.raises(RuntimeError, match="migrations failed"):
        create_scratch(POSTGRES_URL, Settings())
    assert bench_databases() == before


def _over_unix_socket(server: URL) -> URL:
    """The server over its Unix socket (named in the query, as libpq takes it) if that connects."""
    socket = Path("/var/run/postgresql/.s.PGSQL.5432")
    if not socket.exists():
        return server
    local = server.set(host=None, port=None, query={"host": str(socket.parent)})
    engine = create_engine(local)
    try:
        with engine.connect():
            return local
    except OperationalError:  # the socket may ask for another authentication
        return server
    finally:
        engine.dispose()
