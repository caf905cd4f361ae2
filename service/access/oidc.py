"""OpenID Connect login: the authorization code flow with PKCE, against the operator's IdP.

Optional: on when DATASTEWARD_OIDC_ISSUER and DATASTEWARD_OIDC_CLIENT_ID are set.
The protocol runs through Authlib (the authorization URL with PKCE S256, the code
exchange) and joserfc (the ID token's signature and claims). What is checked:

- `state` (one per login, kept in the signed browser session) against CSRF;
- the code exchange carries the PKCE verifier, so a stolen code is useless;
- the ID token's signature against the provider's published JWKS (fetched again
  once when the signing key is unknown, for key rotation); only asymmetric algs;
- `iss` is the configured issuer, `aud` names our client id (and `azp` does
  when there are several audiences), `exp` and `iat` against the injected
  clock, and `nonce` is the one this login sent;
- the configured claim names an existing, active Datasteward user. Users are
  created only when DATASTEWARD_OIDC_AUTO_CREATE_USERS is on, and roles come
  from the IdP only when DATASTEWARD_OIDC_ROLES_CLAIM names the claim;
- a user who needs a second factor (TOTP enrolled, or required for their roles)
  must have logged in to the IdP with one (its `amr` claim, RFC 8176).

Every refusal is an audited `auth.login` record with the reason.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from requests import RequestException
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.login import issue_login
from service.access.models import User
from service.access.service import ROLES, Actor, RoleScope, create_user, roles_of, set_roles
from service.access.totp import totp_required
from service.audit.service import Event, record
from service.config import Settings
from service.deps import Deps
from service.errors import DomainError, Unauthenticated

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
LEEWAY_S = 60
TIMEOUT_S = 10
METADATA_TTL_S = 3600
MULTI_FACTOR = frozenset({"mfa", "otp", "hwk", "swk", "sc"})


class ProviderUnavailable(DomainError):
    status, code = 502, "identity_provider_unavailable"


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    provider_name: str
    redirect_uri: str
    scopes: str
    username_claim: str
    auto_create_users: bool
    roles_claim: str

    @classmethod
    def of(cls, settings: Settings) -> OidcSettings | None:
        """The OIDC settings, or None when OIDC login is not configured."""
        if not (settings.oidc_issuer and settings.oidc_client_id):
            return None
        return cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            provider_name=settings.oidc_provider_name or "OpenID Connect",
            redirect_uri=settings.oidc_redirect_uri,
            scopes=settings.oidc_scopes,
            username_claim=settings.oidc_username_claim,
            auto_create_users=settings.oidc_auto_create_users,
            roles_claim=settings.oidc_roles_claim,
        )


@dataclass(frozen=True)
class PendingLogin:
    """What the callback must match, kept in the signed session between the two legs."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


def begin_login(config: OidcSettings, redirect_uri: str) -> tuple[str, PendingLogin]:
    """The provider's authorization URL to send the browser to, and what to remember."""
    pending = PendingLogin(generate_token(32), generate_token(32), generate_token(64), redirect_uri)
    url, _ = _client(config, redirect_uri).create_authorization_url(
        _metadata(config)["authorization_endpoint"],
        state=pending.state,
        code_verifier=pending.code_verifier,
        nonce=pending.nonce,
    )
    return url, pending


def finish_login(
    deps: Deps,
    anonymous: Actor,
    config: OidcSettings,
    pending: PendingLogin | None,
    params: Mapping[str, str],
) -> dict[str, Any]:
    """Check the callback and the ID token, then log the mapped user in (as log_in does)."""
    claims: dict[str, Any] = {}
    try:
        claims = _verified_claims(deps, config, pending, params)
        with deps.unit_of_work() as uow:
            user = _user_for(uow.session, deps, config, claims)
            roles = roles_of(uow.session, user.id)
            _check_second_factor(deps.settings, user, roles, claims)
            result = issue_login(deps, uow.session, user, roles, anonymous, method="oidc")
            uow.commit()
        return result
    except DomainError as refusal:
        _record_refusal(deps, anonymous, config, claims, refusal.message)
        raise


def _verified_claims(
    deps: Deps, config: OidcSettings, pending: PendingLogin | None, params: Mapping[str, str]
) -> dict[str, Any]:
    if pending is None:
        raise Unauthenticated("no OpenID Connect login is in progress in this browser")
    if "error" in params:
        raise Unauthenticated(f"the identity provider refused: {params['error'][:100]}")
    if not secrets.compare_digest(params.get("state", ""), pending.state):
        raise Unauthenticated("the login's state does not match (a forged or stale callback)")
    code = params.get("code", "")
    if not code:
        raise Unauthenticated("the identity provider sent no authorization code")
    id_token = _exchange(config, pending, code)
    return verify_id_token(config, id_token, pending.nonce, deps.now())


def _exchange(config: OidcSettings, pending: PendingLogin, code: str) -> str:
    try:
        token = _client(config, pending.redirect_uri).fetch_token(
            _metadata(config)["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=pending.code_verifier,
            timeout=TIMEOUT_S,
        )
    except (AuthlibBaseError, RequestException, ValueError) as error:
        raise Unauthenticated(f"the identity provider refused the code: {error}"[:300]) from None
    if not isinstance(token.get("id_token"), str):
        raise Unauthenticated("the identity provider returned no ID token")
    return str(token["id_token"])


def verify_id_token(
    config: OidcSettings, id_token: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, times and nonce check out."""
    claims = _decode(config, id_token)
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY_S,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthenticated("the ID token has expired") from None
    except MissingClaimError as error:
        raise Unauthenticated(f"the ID token lacks a claim: {error.description}") from None
    except InvalidClaimError as error:
        raise Unauthenticated(_claim_problem(error)) from None
    except JoseError as error:
        raise Unauthenticated(f"the ID token is not valid: {error.error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise Unauthenticated("the ID token was issued to another party (azp)")
    return claims


def _claim_problem(error: InvalidClaimError) -> str:
    claim = error.claim
    if claim == "aud":
        return "the ID token is for another audience"
    if claim == "iss":
        return "the ID token comes from another issuer"
    if claim == "nonce":
        return "the ID token's nonce does not match this login (a replayed token)"
    if claim == "iat":
        return "the ID token is issued in the future"
    return f"the ID token's claim {claim!r} is invalid"


def _decode(config: OidcSettings, id_token: str) -> dict[str, Any]:
    for refresh in (False, True):  # a new signing key: fetch the key set once more
        try:
            token = jwt.decode(id_token, _key_set(config, refresh), algorithms=list(ALGORITHMS))
        except (BadSignatureError, ValueError) as error:
            if refresh:
                raise Unauthenticated(
                    "the ID token's signature does not verify with the provider's keys"
                ) from error
            continue
        except JoseError as error:
            raise Unauthenticated(f"the ID token is malformed: {error.error}") from None
        return dict(token.claims)
    raise AssertionError("unreachable")  # pragma: no cover


def _user_for(session: Session, deps: Deps, config: OidcSettings, claims: dict[str, Any]) -> User:
    username = claims.get(config.username_claim)
    if not isinstance(username, str) or not 0 < len(username) <= 64:
        raise Unauthenticated(f"the ID token has no usable {config.username_claim!r} claim")
    user = session.scalar(select(User).where(User.username == username))
    if user is None and not config.auto_create_users:
        raise Unauthenticated(f"no Datasteward user {username!r}; ask an administrator")
    if user is None:
        user = _create(session, deps, username, claims)
    if not user.active:
        raise Unauthenticated("this account is locked")
    if config.roles_claim:
        _take_roles(session, deps, user, claims.get(config.roles_claim))
    return user


def _create(session: Session, deps: Deps, username: str, claims: dict[str, Any]) -> User:
    display = claims.get("name") if isinstance(claims.get("name"), str) else username
    user_id = create_user(
        session,
        username=username,
        password=secrets.token_urlsafe(48),  # never told to anyone: OIDC logins only
        display_name=str(display)[:128],
        roles=[],
        now=deps.now(),
    )
    actor = Actor(user_id, username)
    event = Event("user.create", detail={"user_id": user_id, "via": "oidc"})
    record(session, actor, event, deps.now())
    return session.get_one(User, user_id)


def _take_roles(session: Session, deps: Deps, user: User, claimed: object) -> None:
    """Only when configured: the IdP's roles (the known ones) replace the user's."""
    values = claimed if isinstance(claimed, list) else []
    roles = sorted({r for r in values if isinstance(r, str) and r in ROLES})
    if set(roles) == roles_of(session, user.id):
        return
    set_roles(session, user.id, [RoleScope(r) for r in roles])
    actor = Actor(user.id, user.username)
    detail = {"user_id": user.id, "roles": roles, "via": "oidc"}
    record(session, actor, Event("user.roles", detail=detail), deps.now())


def _check_second_factor(
    settings: Settings, user: User, roles: frozenset[str], claims: dict[str, Any]
) -> None:
    if not (user.totp_enabled or totp_required(settings, roles)):
        return
    methods = claims.get("amr") if isinstance(claims.get("amr"), list) else []
    if not MULTI_FACTOR & set(methods or []):
        raise Unauthenticated(
            "your account needs a second factor, and the identity provider reports none (amr)"
        )


def _record_refusal(
    deps: Deps, anonymous: Actor, config: OidcSettings, claims: dict[str, Any], reason: str
) -> None:
    claimed = claims.get(config.username_claim)
    name = claimed[:64] if isinstance(claimed, str) and claimed else anonymous.username
    who = Actor(0, name, frozenset(), anonymous.request_id, anonymous.client_addr)
    event = Event("auth.login", outcome="refused", reason=reason[:500], detail={"method": "oidc"})
    with deps.unit_of_work() as uow:
        record(uow.session, who, event, deps.now())
        uow.commit()


# --- the provider's metadata and keys, cached per process ------------------------------

_metadata_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_keys_cache: dict[str, KeySet] = {}


def _client(config: OidcSettings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        config.client_id,
        config.client_secret or None,
        scope=config.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if config.client_secret else "none",
    )


def _metadata(config: OidcSettings) -> dict[str, Any]:
    cached = _metadata_cache.get(config.issuer)
    if cached and time.monotonic() - cached[0] < METADATA_TTL_S:
        return cached[1]
    metadata = _fetch_json(config, f"{config.issuer}/.well-known/openid-configuration")
    if metadata.get("issuer", "").rstrip("/") != config.issuer:
        raise ProviderUnavailable("the identity provider's discovery names another issuer")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(name), str):
            raise ProviderUnavailable(f"the identity provider's discovery lacks {name}")
    _metadata_cache[config.issuer] = (time.monotonic(), metadata)
    return metadata


def _key_set(config: OidcSettings, refresh: bool) -> KeySet:
    if refresh or config.issuer not in _keys_cache:
        jwks = _fetch_json(config, _metadata(config)["jwks_uri"])
        try:
            _keys_cache[config.issuer] = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise ProviderUnavailable("the identity provider's key set is unreadable") from None
    return _keys_cache[config.issuer]


def _fetch_json(config: OidcSettings, url: str) -> dict[str, Any]:
    try:
        with OAuth2Session(config.client_id) as client:
            reply = client.get(url, timeout=TIMEOUT_S, withhold_token=True)
        reply.raise_for_status()
        body = reply.json()
    except (AuthlibBaseError, RequestException, ValueError):
        raise ProviderUnavailable(f"the identity provider did not answer at {url}") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"the identity provider sent no JSON object at {url}")
    return body
