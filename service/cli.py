"""The `datasteward` command: init, run, users, and the operator's tools."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from service.config import Settings

# Feature packages add their own subcommands: each module has register(subparsers).
CLI_MODULES: list[str] = [
    "service.bench.cli",
    "service.ops.cli",
    "service.audit.cli",
    "service.vault.cli",
    "service.access.cli",
]

DEMO_PASSWORD = "datasteward-demo"  # noqa: S105 - printed for the embedded demo
DEMO_USERS = (
    ("frontdesk", "前台 Front desk (Li Na)", ["front_desk"]),
    ("frontdesk2", "前台 Front desk (Zhou Min)", ["front_desk"]),
    ("reviewer", "审核员 Reviewer (Wang Fang)", ["reviewer"]),
    ("reviewer2", "审核员 Reviewer (Chen Jie)", ["reviewer"]),
    ("dept", "部门员工 Department staff (Zhao Lei)", ["department_staff"]),
    ("officer", "数据专员 Data officer (Sun Li)", ["data_officer"]),
    ("supervisor", "主管 Supervisor (Wu Gang)", ["supervisor"]),
    ("owner", "流程负责人 Process owner (Liu Yang)", ["process_owner"]),
    ("compliance", "合规 Compliance (Huang Min)", ["compliance"]),
    ("auditor", "审计 Auditor (Zhang Wei)", ["auditor"]),
    ("admin", "管理员 Administrator", ["admin"]),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args, Settings.from_env()) or 0)
    except Exception as error:  # noqa: BLE001 - the CLI reports, it does not trace
        from service.errors import DomainError

        message = error.message if isinstance(error, DomainError) else str(error)
        print(f"datasteward: {message}", file=sys.stderr)
        if os.environ.get("DATASTEWARD_DEBUG"):
            raise
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datasteward", description=__doc__)
    sub = parser.add_subparsers()
    init = sub.add_parser(
        "init", help="create or upgrade the databases, keys and shipped procedures"
    )
    init.add_argument("--demo", action="store_true", help="also create the demo users")
    init.set_defaults(handler=cmd_init)
    sub.add_parser("migrate", help="upgrade the data database to the latest schema").set_defaults(
        handler=cmd_migrate
    )
    run = sub.add_parser("run", help="embedded run: init with demo data, web service, worker, beat")
    run.add_argument("--no-worker", action="store_true")
    run.set_defaults(handler=cmd_run)
    serve = sub.add_parser("serve", help="the web service only (gunicorn)")
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(handler=cmd_serve)
    for module in CLI_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from service.db import KeystoreBase, make_engine
    from service.migrations import upgrade

    upgrade(settings.database_url)
    print("data database is at the latest schema")
    keystore = make_engine(settings.keystore_url)
    try:
        KeystoreBase.metadata.create_all(keystore)  # key-store tables are only ever added
    finally:
        keystore.dispose()
    print("key store has every table")
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import build_deps
    from service.db import KeystoreBase
    from service.definitions.service import install_shipped
    from service.migrations import upgrade
    from service.signing import load_signing_key

    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    deps = build_deps(settings, create_keys=True)
    load_signing_key(settings, create=True)  # checkpoints, archives, certificates
    KeystoreBase.metadata.create_all(deps.db.keystore_engine)
    with deps.unit_of_work() as uow:
        installed = install_shipped(
            uow.session, deps.engine, Path(settings.processes_dir), deps.now()
        )
        uow.commit()
    for name in installed:
        print(f"installed procedure {name} (version 1, published)")
    if args.demo:
        _create_demo_users(deps)
    deps.db.dispose()
    print("ready")
    return 0


def _create_demo_users(deps) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from service.access.models import User
    from service.access.service import create_user

    with deps.unit_of_work() as uow:
        existing = set(uow.session.scalars(select(User.username)))
        for username, display_name, roles in DEMO_USERS:
            if username not in existing:
                create_user(
                    uow.session,
                    username=username,
                    password=DEMO_PASSWORD,
                    display_name=display_name,
                    roles=roles,
                    now=deps.now(),
                    trained_until=deps.now() + timedelta(days=365),
                )
        uow.commit()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:service.ops.gunicorn_conf",
        "--bind",
        f"{settings.host}:{settings.port}",
        "--workers",
        str(args.workers),
        "service.wsgi:app",
    ]
    return subprocess.call(command)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """The embedded run: everything a newcomer needs, in one command."""
    cmd_init(argparse.Namespace(demo=True), settings)
    children = [
        _spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"{settings.host}:{settings.port}",
                "--workers",
                "2",
                "service.wsgi:app",
            ]
        )
    ]
    if not args.no_worker:
        children.append(
            _spawn(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers.celery_app",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--schedule",
                    str(Path(settings.var_dir) / "beat-schedule"),
                ]
            )
        )
    _print_welcome(settings)
    return _supervise(children)


def _spawn(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command)


def _supervise(children: list[subprocess.Popen]) -> int:
    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:  # never leave a worker or server behind
                child.kill()
                child.wait()
    return max((child.returncode or 0) for child in children)


def _print_welcome(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}"
    print(f"\nDatasteward is running at {url}")
    print(f"  API: {url}/api/v1   OpenAPI: {url}/api/v1/openapi.json")
    print(f"Demo users (password '{DEMO_PASSWORD}'):")
    for username, display_name, roles in DEMO_USERS:
        print(f"  {username:12} {', '.join(roles):18} {display_name}")
    print("Press Ctrl+C to stop.\n")


if __name__ == "__main__":
    raise SystemExit(main())
