"""The canary test: a subject's values never reach any byte the system writes in plaintext.

A subject is collected through the API with unique canary values, a proof
document carrying a canary is attached and read back, the record is entered
and a deletion job is queued on the real broker; then every file under the
service's directory (SQLite databases with their -wal/-shm journals, the
document store), a pg_dump of both PostgreSQL databases, every Redis key of the
broker database, the captured log output and the workflow state are scanned.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
from pathlib import Path

import redis
from sqlalchemy import select

from service.cases.models import Case
from tests.api.conftest import CONSENT
from tests.conftest import REDIS_URL, need_service
from tests.integration.vault.helpers import (
    actor_of,
    deletion_case,
    install_shredding_procedure,
    resident_id,
)
from tests.integration.worker_harness import flush_broker, publish_jobs


def _canaries() -> dict[str, str]:
    tag = secrets.token_hex(6).upper()
    digits = "".join(secrets.choice("0123456789") for _ in range(8))
    return {
        "name": f"CanaryName{tag}",
        "id_type": "resident_id",
        "id_number": resident_id(f"11010519{secrets.choice(['70', '80', '90'])}0615{digits[:3]}"),
        "mobile": f"139{digits}",
        "address": f"CanaryAddress{tag} Road 1",
        "document": f"CanaryDocument{tag}",
    }


def _pdf(canary: str) -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Title (" + canary.encode() + b") >> endobj\n%%EOF\n"


def _collect_through_the_api(api, canaries: dict[str, str]) -> dict:
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    form = {k: v for k, v in canaries.items() if k != "document"}
    assert desk.complete(desk.task_of(case["id"], "fill_form"), form).status == 200
    upload = desk.client.post(
        f"/api/v1/cases/{case['id']}/documents",
        headers=desk.headers,
        data={
            "file": (
                __import__("io").BytesIO(_pdf(canaries["document"])),
                f"{canaries['name']}.pdf",
            )
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    review = reviewer.task_of(case["id"], "review")
    assert (
        reviewer.get(f"/api/v1/tasks/{review}").body["subject_fields"]["name"] == canaries["name"]
    )
    document = reviewer.client.get(
        f"/api/v1/documents/{upload.get_json()['id']}", headers=reviewer.headers
    )
    assert canaries["document"].encode() in document.data
    done = reviewer.complete(review, {"decision": "approve"})
    assert done.body["outcome"] == "entered"
    return done.body


def _needles(canaries: dict[str, str]) -> dict[str, bytes]:
    needles = {k: v.encode() for k, v in canaries.items() if k != "id_type"}
    needles["mobile_e164"] = ("+86" + canaries["mobile"]).encode()
    return needles


def _written_bytes(deps, tmp_path: Path) -> dict[str, bytes]:
    """Every byte the system wrote, by where it was found."""
    found = {str(p): p.read_bytes() for p in Path(deps.settings.var_dir).rglob("*") if p.is_file()}
    if deps.db.is_postgres:
        for url in (deps.settings.database_url, deps.settings.keystore_url):
            dump = subprocess.run(
                ["pg_dump", "--dbname", url.replace("+psycopg", "")],
                capture_output=True,
                check=True,
            )
            found[f"pg_dump {url.rsplit('/', 1)[1]}"] = dump.stdout
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys("*")
    assert keys, "the deletion job should be waiting on the broker"
    for key in keys:
        found[f"redis {key!r}"] = key + (client.dump(key) or b"")
    client.close()
    with deps.unit_of_work() as uow:
        found["workflow state"] = "\n".join(uow.session.scalars(select(Case.state))).encode()
    return found


def test_no_canary_value_is_written_anywhere_in_plaintext(api, deps, users, tmp_path, caplog):
    need_service("redis")
    caplog.set_level(logging.DEBUG)
    flush_broker()
    canaries = _canaries()
    case = _collect_through_the_api(api, canaries)
    install_shredding_procedure(deps)
    deletion_case(
        deps,
        actor_of(deps, users["frontdesk"], "frontdesk", "front_desk"),
        case["subject"],
        document=None,
    )
    publish_jobs(deps)
    written = _written_bytes(deps, tmp_path)
    written["log output"] = (
        caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    ).encode()
    assert any(k.endswith(".sqlite") or k.startswith("pg_dump") for k in written)
    assert any("/documents/" in k for k in written)
    hits = [
        (where, what)
        for where, data in written.items()
        for what, needle in _needles(canaries).items()
        if needle in data
    ]
    assert hits == []
    # The control: the same scan does find a value that was written in plaintext.
    needle = _needles(canaries)["name"]
    (Path(deps.settings.var_dir) / "planted-control.txt").write_bytes(b"leak " + needle)
    assert any(needle in data for data in _written_bytes(deps, tmp_path).values())
