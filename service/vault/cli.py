"""`datasteward keys`: rotate the key-encryption key, show key status, retire old versions.

`datasteward certificates verify`: check a deletion certificate offline.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from service.access.service import Actor
from service.config import Settings

BAR_WIDTH = 40


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="key-encryption keys: rotate, status, retire")
    sub = keys.add_subparsers()
    rotate = sub.add_parser("rotate", help="new KEK version; re-wrap every data key (resumable)")
    rotate.add_argument("--batch-size", type=int, default=None)
    rotate.set_defaults(handler=cmd_rotate)
    sub.add_parser("status", help="KEK versions and data keys per version").set_defaults(
        handler=cmd_status
    )
    retire = sub.add_parser("retire", help="remove a KEK version no data key uses any more")
    retire.add_argument("version", type=int)
    retire.set_defaults(handler=cmd_retire)

    certs = subparsers.add_parser("certificates", help="deletion certificates: verify offline")
    verify = certs.add_subparsers().add_parser(
        "verify", help="check a certificate as GET /api/v1/certificates/{id} serves it"
    )
    verify.add_argument("file", help="the certificate's JSON")
    verify.add_argument(
        "--public-key",
        metavar="PEM",
        help="the service's public key (`datasteward audit public-key`); default: this install's",
    )
    verify.set_defaults(handler=cmd_verify_certificate)


def cmd_verify_certificate(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from service.audit.checkpoint import public_key_from_pem
    from service.signing import load_signing_key
    from service.vault.certificates import check_document

    if args.public_key:
        key = public_key_from_pem(Path(args.public_key).read_bytes())
    else:
        key = load_signing_key(settings).public_key()
    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"FAIL cannot read {args.file}: {error}", file=sys.stderr)
        return 1
    problems = check_document(document, key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    body = document["body"]
    print(
        f"OK certificate {body['certificate_id']}: subject {body['subject']} deleted, "
        f"issued {body['issued_at']}"
    )
    return 0


def cli_actor() -> Actor:
    return Actor(0, f"cli:{getpass.getuser()}", frozenset({"system"}))


def progress_bar(done: int, total: int) -> None:
    share = done / total if total else 1.0
    filled = int(BAR_WIDTH * share)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    sys.stderr.write(f"\rre-wrapping data keys [{bar}] {done}/{total} ({share:.0%})")
    sys.stderr.flush()


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import build_deps
    from service.vault.rotation import rotate_keys

    deps = build_deps(settings)
    batch = args.batch_size or settings.rotation_batch_size
    result = rotate_keys(deps, cli_actor(), batch_size=batch, progress=progress_bar)
    sys.stderr.write("\n")
    how = "resumed and finished" if result.resumed else "finished"
    print(
        f"rotation to KEK version {result.target_version} {how}: "
        f"{result.rewrapped} data keys re-wrapped, nothing re-encrypted"
    )
    print(
        "restart nothing: running services re-read the keyring file; "
        "retire old versions with `datasteward keys retire <version>`"
    )
    return 0


def cmd_status(_args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import build_deps
    from service.vault.rotation import key_status

    print(json.dumps(key_status(build_deps(settings)), indent=2))
    return 0


def cmd_retire(args: argparse.Namespace, settings: Settings) -> int:
    from service.bootstrap import build_deps
    from service.vault.rotation import retire_version

    retire_version(build_deps(settings), cli_actor(), args.version)
    print(f"KEK version {args.version} removed from the keyring")
    return 0
