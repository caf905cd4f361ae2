"""`datasteward audit ...`: verify, checkpoint, export, archive, and offline checks."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from service.config import Settings


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="the audit trail: verify, checkpoint, export")
    sub = audit.add_subparsers()
    verify = sub.add_parser("verify", help="verify the live database, or an export file")
    verify.add_argument("--export", metavar="FILE", help="verify this export instead")
    verify.add_argument("--public-key", metavar="PEM", help="for --export: the checkpoint key")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=cmd_verify)
    archive_check = sub.add_parser("verify-archive", help="check archived segments offline")
    archive_check.add_argument("path", help="the archive directory or one manifest file")
    archive_check.add_argument("--public-key", metavar="PEM", required=True)
    archive_check.set_defaults(handler=cmd_verify_archive)
    proof = sub.add_parser("verify-proof", help="check a proof served by the API, offline")
    proof.add_argument("file", help="the JSON of /audit/records/{seq}/proof or .../consistency")
    proof.add_argument("--public-key", metavar="PEM", required=True)
    proof.set_defaults(handler=cmd_verify_proof)
    sub.add_parser("checkpoint", help="sign a checkpoint over every record now").set_defaults(
        handler=cmd_checkpoint
    )
    export = sub.add_parser("export", help="export a range as JSONL with checkpoint and proof")
    export.add_argument("--from", dest="first", type=int, default=1)
    export.add_argument("--to", dest="last", type=int, help="default: the latest checkpoint")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    export.set_defaults(handler=cmd_export)
    sub.add_parser("archive", help="run the archiving job now").set_defaults(handler=cmd_archive)
    sub.add_parser("public-key", help="print the checkpoint public key (PEM)").set_defaults(
        handler=cmd_public_key
    )


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    if args.export:
        from service.audit.offline import verify_export_file

        problems = verify_export_file(args.export, _public_key(args.public_key, settings))
        return _verdict(problems, f"export {args.export} verifies")
    from service.audit.verify import verify_live
    from service.bootstrap import build_deps

    report = verify_live(build_deps(settings))
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        print(
            f"{report.records} live records, {report.pruned} pruned, "
            f"{report.checkpoints} checkpoints in {report.seconds:.2f}s "
            f"({report.records_per_s:,.0f} records/s)"
        )
    return _verdict(report.problems, "audit log verifies")


def cmd_verify_archive(args: argparse.Namespace, settings: Settings) -> int:
    from service.audit.archive_format import check_continuity, verify_archive_dir

    checks = verify_archive_dir(args.path, _public_key(args.public_key, settings))
    if not checks:
        return _verdict([f"no segment manifest under {args.path}"], "")
    problems = [p for check in checks for p in check.problems] + check_continuity(checks)
    records = sum(check.records for check in checks)
    return _verdict(problems, f"{len(checks)} segments, {records} records verify")


def cmd_verify_proof(args: argparse.Namespace, settings: Settings) -> int:
    from service.audit.offline import verify_proof_document

    document = json.loads(Path(args.file).read_text())
    ok, message = verify_proof_document(document, _public_key(args.public_key, settings))
    return _verdict([] if ok else [message], message)


def cmd_checkpoint(_args: argparse.Namespace, settings: Settings) -> int:
    from service.audit.checkpoints import make_checkpoint
    from service.bootstrap import build_deps

    made = make_checkpoint(build_deps(settings))
    print(json.dumps(made) if made else "no new records since the last checkpoint")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from service.access.service import Actor
    from service.audit.search import export_lines
    from service.bootstrap import build_deps

    # Whoever can run the CLI against the database is the operator; the export is recorded.
    operator = Actor(0, f"cli:{getpass.getuser()}"[:64], frozenset({"admin"}))
    lines = export_lines(build_deps(settings), operator, args.first, args.last)
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115
    try:
        out.writelines(lines)
    finally:
        if args.out:
            out.close()
    return 0


def cmd_archive(_args: argparse.Namespace, settings: Settings) -> int:
    from service.audit.archiving import run_archiving
    from service.bootstrap import build_deps

    print(json.dumps(run_archiving(build_deps(settings))))
    return 0


def cmd_public_key(_args: argparse.Namespace, settings: Settings) -> int:
    from service.signing import public_key_pem

    sys.stdout.write(public_key_pem(settings).decode())
    return 0


def _public_key(path: str | None, settings: Settings) -> Any:
    from service.audit.checkpoint import public_key_from_pem
    from service.signing import load_signing_key

    if path:
        return public_key_from_pem(Path(path).read_bytes())
    return load_signing_key(settings).public_key()


def _verdict(problems: list[str], success: str) -> int:
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print(f"OK {success}")
    return 1 if problems else 0
