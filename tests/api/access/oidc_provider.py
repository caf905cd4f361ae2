"""A small but real OpenID Connect provider on loopback, for the login tests.

It serves discovery, JWKS, authorize and token over HTTP from a thread, checks
the client's PKCE verifier, secret and redirect URI like a provider would, and
signs ID tokens with an RSA key made by `cryptography`. Tests bend one thing at
a time (`claims` overrides, `signing_key`) to see each check refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "datasteward-test"
CLIENT_SECRET = "a-client-secret-for-tests"  # noqa: S105 - a test fixture
KID = "test-key-1"


def rsa_key() -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return RSAKey.import_key(pem, {"kid": KID, "use": "sig", "alg": "RS256"})


class FakeProvider:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.key = rsa_key()
        self.signing_key = self.key  # what ID tokens are signed with; tests may swap it
        self.username = "reviewer"
        self.claims: dict[str, Any] = {}  # overrides of the ID token's claims
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, dict[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- what the endpoints do ---------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, params: dict[str, str]) -> str:
        """The redirect back to the client, with a code bound to this request."""
        self.authorize_requests.append(params)
        code = secrets.token_urlsafe(16)
        self._codes[code] = params
        query = urlencode({"code": code, "state": params.get("state", "")})
        return f"{params['redirect_uri']}?{query}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        request = self._codes.pop(form.get("code", ""), None)
        if request is None:
            return 400, {"error": "invalid_grant"}
        if authorization != _basic(CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        if _s256(form.get("code_verifier", "")) != request.get("code_challenge"):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(request.get("nonce")),
        }

    def id_token(self, nonce: str | None) -> str:
        issued = int(self.now().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": f"subject-{self.username}",
            "aud": CLIENT_ID,
            "iat": issued,
            "exp": issued + 300,
            "nonce": nonce,
            "preferred_username": self.username,
        } | self.claims
        header = {"alg": "RS256", "kid": KID}
        return jwt.encode(
            header, {k: v for k, v in claims.items() if v is not None}, self.signing_key
        )

    # --- HTTP --------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    location = provider.authorize(dict(parse_qsl(url.query)))
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                status, body = provider.token(form, self.headers.get("Authorization", ""))
                self._json(status, body)

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@contextmanager
def running_provider(now: Callable[[], datetime]) -> Iterator[FakeProvider]:
    provider = FakeProvider(now)
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()
        thread.join()


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
