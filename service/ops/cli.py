"""The operator's commands: `datasteward check-config`."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from service.config import Settings
from service.ops.checkconfig import ERROR, check, report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check-config",
        help="say what is wrong with this deployment's settings before it starts",
    )
    parser.add_argument("--json", action="store_true", help="print the problems as JSON")
    parser.add_argument(
        "--strict", action="store_true", help="fail on warnings too, not only on errors"
    )
    parser.set_defaults(handler=cmd_check_config)


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    problems = check(settings, os.environ)
    if args.json:
        print(json.dumps({"env": settings.env, "problems": [asdict(p) for p in problems]}))
    else:
        print(report(problems, settings))
    failing = problems if args.strict else [p for p in problems if p.severity == ERROR]
    return 1 if failing else 0
