"""OpenID Connect login against a real provider on loopback: the happy path, and each
check (state, nonce, audience, expiry, signature, unknown user) refusing with a clear
error and an audit record."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from service.access import oidc
from service.access.models import User, UserRole
from service.audit.models import AuditRecord
from tests.api.access.oidc_provider import CLIENT_ID, CLIENT_SECRET, rsa_key, running_provider

JSON = {"Accept": "application/json"}


@pytest.fixture
def provider(clock):
    with running_provider(clock) as fake:
        yield fake
    oidc._metadata_cache.clear()
    oidc._keys_cache.clear()


def _app(deps, provider, **overrides):
    from service.app import create_app

    deps.settings = replace(
        deps.settings,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_provider_name="Corporate SSO",
        **overrides,
    )
    flask_app = create_app(deps.settings, deps)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def oidc_client(deps, users, provider):
    return _app(deps, provider).test_client()


def _to_provider(client, next_path: str | None = None) -> str:
    """Start the login; return the provider's redirect back to us (after its authorize)."""
    start = client.get("/api/v1/auth/oidc/login" + (f"?next={next_path}" if next_path else ""))
    assert start.status_code == 302, start.get_json()
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302
    return back.headers["Location"]


def _callback(client, location: str, **replace_params: str):
    url = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(url.query).items()} | replace_params
    return client.get(url.path, query_string=params, headers=JSON)


def _refusals(deps) -> list[str]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord.reason)
                .where(AuditRecord.action == "auth.login", AuditRecord.outcome == "refused")
                .order_by(AuditRecord.seq)
            )
        )


def _refused(deps, reply, message_part: str) -> None:
    assert reply.status_code == 401, reply.get_json()
    message = reply.get_json()["error"]["message"]
    assert message_part in message
    assert _refusals(deps)[-1] == message


def test_a_known_user_logs_in_through_the_provider_with_pkce_state_and_nonce(
    oidc_client, provider, deps
):
    back = _callback(oidc_client, _to_provider(oidc_client, "/tasks?scope=mine"))
    assert back.status_code == 302 and back.headers["Location"] == "/tasks?scope=mine"
    me = oidc_client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["username"] == "reviewer"
    asked = provider.authorize_requests[0]
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["nonce"] and asked["client_id"] == CLIENT_ID
    assert provider.token_requests[0]["code_verifier"]
    with deps.unit_of_work() as uow:
        detail = uow.session.scalars(
            select(AuditRecord.detail).where(
                AuditRecord.action == "auth.login", AuditRecord.outcome == "done"
            )
        ).one()
    assert detail == {"method": "oidc"}


def test_a_callback_with_another_state_is_refused(oidc_client, deps):
    reply = _callback(oidc_client, _to_provider(oidc_client), state="forged-state")
    _refused(deps, reply, "state does not match")
    assert oidc_client.get("/api/v1/me").status_code == 401


def test_a_callback_without_a_login_in_progress_is_refused(oidc_client, deps):
    location = _to_provider(oidc_client)
    other_browser = oidc_client.application.test_client()
    _refused(deps, _callback(other_browser, location), "no OpenID Connect login is in progress")


def test_an_id_token_with_another_nonce_is_refused(oidc_client, provider, deps):
    provider.claims = {"nonce": "a-nonce-from-another-login"}
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "nonce does not match")


def test_an_id_token_for_another_audience_is_refused(oidc_client, provider, deps):
    provider.claims = {"aud": "some-other-client"}
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "another audience")


def test_an_id_token_from_another_issuer_is_refused(oidc_client, provider, deps):
    provider.claims = {"iss": "https://idp.example.invalid"}
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "another issuer")


def test_an_expired_id_token_is_refused(oidc_client, provider, deps, clock):
    issued = int(clock().timestamp()) - 3600
    provider.claims = {"iat": issued, "exp": issued + 300}
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "expired")


def test_an_id_token_signed_with_another_key_is_refused(oidc_client, provider, deps):
    provider.signing_key = rsa_key()  # same kid, a key the JWKS does not hold
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "signature does not verify")


def test_an_unsigned_id_token_is_refused(oidc_client, provider, deps, monkeypatch):
    location = _to_provider(oidc_client)
    monkeypatch.setattr(provider, "id_token", lambda nonce: _unsigned_token(provider, nonce))
    _refused(deps, _callback(oidc_client, location), "ID token")


def test_an_identity_without_a_datasteward_user_is_refused_and_not_created(
    oidc_client, provider, deps
):
    provider.username = "stranger"
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "no Datasteward user")
    with deps.unit_of_work() as uow:
        assert uow.session.scalar(select(User.id).where(User.username == "stranger")) is None


def test_roles_are_never_taken_from_the_provider_unless_configured(oidc_client, provider, deps):
    provider.claims = {"roles": ["admin"]}
    assert _callback(oidc_client, _to_provider(oidc_client)).status_code == 302
    assert oidc_client.get("/api/v1/me").get_json()["roles"] == ["reviewer"]


def test_configured_auto_creation_and_roles_claim(deps, users, provider):
    client = _app(deps, provider, oidc_auto_create_users=True, oidc_roles_claim="roles")
    client = client.test_client()
    provider.username = "newcomer"
    provider.claims = {"roles": ["reviewer", "no_such_role"], "name": "New Comer"}
    assert _callback(client, _to_provider(client)).status_code == 302
    with deps.unit_of_work() as uow:
        user_id = uow.session.scalar(select(User.id).where(User.username == "newcomer"))
        roles = list(uow.session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))
    assert roles == ["reviewer"]


def test_a_locked_account_cannot_log_in_through_the_provider(oidc_client, deps, users):
    with deps.unit_of_work() as uow:
        uow.session.get_one(User, users["reviewer"]).active = False
        uow.commit()
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "locked")


def test_a_user_with_totp_needs_the_provider_to_report_a_second_factor(
    oidc_client, provider, deps, users
):
    with deps.unit_of_work() as uow:
        uow.session.get_one(User, users["reviewer"]).totp_enabled = True
        uow.commit()
    _refused(deps, _callback(oidc_client, _to_provider(oidc_client)), "second factor")
    provider.claims = {"amr": ["pwd", "otp"]}
    assert _callback(oidc_client, _to_provider(oidc_client)).status_code == 302


def test_a_browser_sees_the_refusal_on_the_login_page(oidc_client, provider, deps):
    provider.username = "stranger"
    location = urlsplit(_to_provider(oidc_client))
    page = oidc_client.get(
        f"{location.path}?{location.query}",
        headers={"Accept": "text/html", "Accept-Language": "en"},
    )
    assert page.status_code == 401
    text = page.get_data(as_text=True)
    assert "identity provider" in text and "no Datasteward user" in text


def test_without_configuration_there_is_no_provider_button_and_no_flow(client):
    assert "login-oidc" not in client.get("/login?lang=en").get_data(as_text=True)
    assert client.get("/api/v1/auth/oidc/login").status_code == 404
    assert client.get("/api/v1/auth/oidc/callback?code=x&state=y").status_code == 404


def test_the_login_page_offers_the_configured_provider_in_both_languages(oidc_client):
    page = oidc_client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in with Corporate SSO" in page and "/api/v1/auth/oidc/login" in page
    assert "使用 Corporate SSO 登录" in oidc_client.get("/login?lang=zh-CN").get_data(as_text=True)


def _unsigned_token(provider, nonce) -> str:
    import base64
    import json

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    issued = int(provider.now().timestamp())
    claims = {
        "iss": provider.issuer,
        "sub": "s",
        "aud": CLIENT_ID,
        "iat": issued,
        "exp": issued + 300,
        "nonce": nonce,
        "preferred_username": "reviewer",
    }
    return f"{part({'alg': 'none'})}.{part(claims)}."
