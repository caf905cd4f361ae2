"""An HTTP client for several API replicas that fails over like a load balancer.

On a connection error (the replica died mid-request) the same request goes to
the next replica. A retried write may have committed the first time; callers
treat a 409 after a retry as "already done" and re-read the state.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

DEMO_PASSWORD = "datasteward-demo"  # noqa: S105 - the demo users `init --demo` creates
CONNECTION_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, OSError)


@dataclass
class Reply:
    status: int
    body: Any
    retried: bool = False


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    failovers: int = 0
    retried_starts: int = 0
    conflicts_after_retry: int = 0

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)


class FailoverClient:
    def __init__(self, bases: list[str], stats: Stats) -> None:
        self.bases = bases
        self.stats = stats
        self.down: set[str] = set()
        self.tokens: dict[str, str] = {}

    def login(self, username: str) -> None:
        reply = self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            0,
            auth=False,
            body={
                "username": username,
                "password": DEMO_PASSWORD,
            },
        )
        assert reply.status == 200, reply.body
        self.tokens[username] = reply.body["token"]

    def call(
        self,
        method: str,
        path: str,
        user: str | None,
        prefer: int,
        body: Any = None,
        auth: bool = True,
    ) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        return self._call(method, path, user if auth else None, prefer, data, "application/json")

    def upload(self, path: str, user: str, prefer: int, filename: str, content: bytes) -> Reply:
        """POST one file as multipart/form-data field ``file`` (a proof document)."""
        boundary = uuid.uuid4().hex
        data = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode(),
                b"Content-Type: application/octet-stream\r\n\r\n",
                content,
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        return self._call(
            "POST", path, user, prefer, data, f"multipart/form-data; boundary={boundary}"
        )

    def _call(
        self,
        method: str,
        path: str,
        user: str | None,
        prefer: int,
        data: bytes | None,
        content_type: str,
    ) -> Reply:
        retried = False
        for _attempt in range(40):
            base = self._pick(prefer)
            try:
                status, payload = self._send(base, method, path, user, data, content_type)
            except CONNECTION_ERRORS:
                self.down.add(base)
                self.stats.add("failovers")
                retried = True
                time.sleep(0.05)
                continue
            self.stats.add("requests")
            return Reply(status, payload, retried)
        raise ConnectionError(f"no replica answered {method} {path}")

    def _pick(self, prefer: int) -> str:
        order = self.bases[prefer % len(self.bases) :] + self.bases[: prefer % len(self.bases)]
        alive = [base for base in order if base not in self.down]
        if not alive:  # every replica failed once: try them all again
            self.down.clear()
            return order[0]
        return alive[0]

    def _send(
        self,
        base: str,
        method: str,
        path: str,
        user: str | None,
        data: bytes | None,
        content_type: str,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type}
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
                return reply.status, _json(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None
