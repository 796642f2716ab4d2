"""Staff single sign-on with OpenID Connect: the flow, the ID token, and who gets which role.

The authorization code flow with PKCE (S256), `state` and `nonce` (authlib's helpers) and
an ID token verified with joserfc (authlib's JOSE library): signature against the issuer's
published keys, issuer, audience, expiry and nonce. Requests go to the configured issuer's
host only: discovery may not send us to another (no redirect is followed either).

Accounts follow the identity provider's groups: an account is made at first sign-in only
when a group maps to a role, its role follows the groups at each sign-in, and a user no
longer in any mapped group is deactivated at the next attempt, with all sessions ended.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from meldpunt.accounts.models import OidcIdentity, Role, StaffProfile
from meldpunt.accounts.staff import READ_REPORTS, end_sessions
from meldpunt.audit.actors import staff as staff_actor
from meldpunt.audit.log import append as audit

# A user in several mapped groups gets the strongest of their roles.
ROLE_RANK = {Role.VIEWER: 1, Role.TRIAGER: 2, Role.ADMIN: 3}
# Answers from the identity provider larger than this are refused (discovery, keys, token).
ANSWER_MAX = 256 * 1024
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
METADATA_SECONDS = 15 * 60


class Unavailable(Exception):
    """The identity provider did not answer, or not in a way we can use."""


class Refused(Exception):
    """The answer was not a valid sign-in: bad state, code, token or claims."""


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    name: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    groups_claim: str = "groups"
    role_map: dict[str, str] = field(default_factory=dict)
    accept_mfa: bool = False
    mfa_amr: frozenset[str] = frozenset({"mfa", "otp", "hwk", "swk"})
    mfa_acr: frozenset[str] = frozenset()
    leeway: int = 60
    timeout: float = 10.0
    # Origins besides the issuer's that the admin allows discovery to name (token, keys).
    endpoint_origins: frozenset[str] = frozenset()


def config() -> Config | None:
    """The configured identity provider, or None when single sign-on is off."""
    if not settings.MELDPUNT_OIDC_ISSUER:
        return None
    return Config(
        issuer=settings.MELDPUNT_OIDC_ISSUER.rstrip("/"),
        client_id=settings.MELDPUNT_OIDC_CLIENT_ID,
        client_secret=settings.MELDPUNT_OIDC_CLIENT_SECRET,
        name=settings.MELDPUNT_OIDC_NAME,
        scopes=tuple(settings.MELDPUNT_OIDC_SCOPES),
        groups_claim=settings.MELDPUNT_OIDC_GROUPS_CLAIM,
        role_map=dict(settings.MELDPUNT_OIDC_ROLE_MAP),
        accept_mfa=settings.MELDPUNT_OIDC_ACCEPT_MFA,
        mfa_amr=frozenset(settings.MELDPUNT_OIDC_MFA_AMR),
        mfa_acr=frozenset(settings.MELDPUNT_OIDC_MFA_ACR),
        leeway=settings.MELDPUNT_OIDC_LEEWAY_SECONDS,
        timeout=float(settings.MELDPUNT_OIDC_TIMEOUT_SECONDS),
        endpoint_origins=frozenset(settings.MELDPUNT_OIDC_ENDPOINT_ORIGINS),
    )


# --- Talking to the identity provider ----------------------------------------------------


def _same_origin(url: str, issuer: str) -> bool:
    a, b = urlsplit(url), urlsplit(issuer)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and a.scheme in {
        "http",
        "https",
    }


def _allowed(url: str, cfg: Config) -> bool:
    """On the issuer's own origin, or on one the admin named in MELDPUNT_OIDC_ENDPOINT_ORIGINS."""
    return _same_origin(url, cfg.issuer) or any(
        _same_origin(url, origin) for origin in cfg.endpoint_origins
    )


def _request(
    cfg: Config, url: str, body: dict[str, str] | None = None, auth: bool = False
) -> dict[str, Any]:
    """GET (or POST a form to) a URL on the issuer's host; the JSON answer or Unavailable."""
    if not _allowed(url, cfg):
        raise Unavailable("the identity provider named an endpoint on another host")
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    headers = {"Accept": "application/json", "User-Agent": "Meldpunt"}
    payload = None
    if body is not None:
        payload = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if auth:
        pair = f"{quote(cfg.client_id, safe='')}:{quote(cfg.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    connection = connection_class(parts.netloc, timeout=cfg.timeout)
    try:
        connection.request("POST" if body is not None else "GET", target, payload, headers)
        answer = connection.getresponse()
        data = answer.read(ANSWER_MAX + 1)
        status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        raise Unavailable(type(exc).__name__) from exc
    finally:
        connection.close()
    if len(data) > ANSWER_MAX:
        raise Unavailable("answer too large")
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise Unavailable(f"HTTP {status}, not JSON") from exc
    if not isinstance(parsed, dict):
        raise Unavailable(f"HTTP {status}, not a JSON object")
    if status >= 500 or (status != 200 and body is None):
        raise Unavailable(f"HTTP {status}")
    if status != 200:
        # The token endpoint refuses a bad, used or foreign code with 400 invalid_grant.
        raise Refused(f"HTTP {status} {str(parsed.get('error', ''))[:40]}")
    return parsed


def metadata(cfg: Config) -> dict[str, Any]:
    """The issuer's discovery document, checked and cached for a while."""
    key = f"meldpunt-oidc-metadata:{cfg.issuer}"
    cached = cache.get(key)
    if isinstance(cached, dict):
        return cached
    document = _request(cfg, f"{cfg.issuer}/.well-known/openid-configuration")
    if document.get("issuer") != cfg.issuer:
        raise Unavailable("the discovery document names another issuer")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(name), str) or not _allowed(document[name], cfg):
            raise Unavailable(f"{name} is missing or on another host")
    cache.set(key, document, METADATA_SECONDS)
    return document


def _keys(cfg: Config, refresh: bool = False) -> KeySet:
    key = f"meldpunt-oidc-jwks:{cfg.issuer}"
    cached = None if refresh else cache.get(key)
    document = cached if isinstance(cached, dict) else _request(cfg, metadata(cfg)["jwks_uri"])
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise Unavailable("the issuer's keys could not be read") from exc
    cache.set(key, document, METADATA_SECONDS)
    return keys


# --- The flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    url: str
    pending: dict[str, Any]  # kept in the session until the answer comes back


def start(cfg: Config, redirect_uri: str, fresh: bool = False) -> Start:
    """Where to send the browser, and what to remember for checking the answer."""
    endpoint = metadata(cfg)["authorization_endpoint"]
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    extra: dict[str, Any] = {
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if fresh:
        # A sensitive action: the identity provider must ask again, not reuse its session.
        extra.update(prompt="login", max_age=0)
    url = prepare_grant_uri(
        endpoint,
        cfg.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(cfg.scopes),
        state=state,
        **extra,
    )
    pending = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "at": time.time(),
        "fresh": fresh,
    }
    return Start(url=url, pending=pending)


# Between leaving for the identity provider and coming back, at most this long.
PENDING_SECONDS = 10 * 60


def finish(
    cfg: Config, redirect_uri: str, pending: dict[str, Any] | None, query: dict[str, str]
) -> dict[str, Any]:
    """Check the answer, exchange the code, verify the ID token: its claims, or Refused."""
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        raise Refused("no sign-in was started here, or it took too long")
    if not hmac.compare_digest(str(query.get("state", "")), str(pending.get("state", ""))):
        raise Refused("state does not match")
    if "iss" in query and query["iss"] != cfg.issuer:
        raise Refused("answer from another issuer")  # RFC 9207 mix-up defence
    if query.get("error") or not query.get("code"):
        raise Refused(f"the identity provider answered {str(query.get('error', ''))[:40]}")
    token = _request(
        cfg,
        metadata(cfg)["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": str(pending["verifier"]),
        },
        auth=True,
    )
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Refused("no ID token")
    claims = verify_id_token(cfg, id_token, str(pending["nonce"]))
    if pending.get("fresh") and time.time() - float(claims.get("auth_time", 0)) > cfg.leeway:
        raise Refused("the identity provider did not ask again")
    return claims


def verify_id_token(
    cfg: Config, id_token: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    """Signature, issuer, audience, expiry and nonce of an ID token: its claims, or Refused."""
    try:
        try:
            decoded = jwt.decode(id_token, _keys(cfg), algorithms=ALGORITHMS)
        except JoseError:
            # The issuer may have rolled its keys since we cached them: fetch once more.
            decoded = jwt.decode(id_token, _keys(cfg, refresh=True), algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            leeway=cfg.leeway,
            iss={"essential": True, "value": cfg.issuer},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise Refused(f"ID token not valid: {type(exc).__name__}") from exc
    claims = dict(decoded.claims)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if cfg.client_id not in audiences:
        raise Refused("ID token not valid: issued to another client")
    if len(audiences) > 1 and claims.get("azp") != cfg.client_id:
        raise Refused("ID token not valid: authorized party is another client")
    return claims


def proves_mfa(cfg: Config, claims: dict[str, Any]) -> bool:
    """Whether the identity provider says, and we accept, that it checked a second factor."""
    if not cfg.accept_mfa:
        return False
    amr = claims.get("amr")
    methods = {str(m) for m in amr} if isinstance(amr, list) else set()
    return bool(methods & cfg.mfa_amr) or str(claims.get("acr", "")) in cfg.mfa_acr


# --- Accounts ------------------------------------------------------------------------------


def role_for(cfg: Config, claims: dict[str, Any]) -> str | None:
    """The strongest role the user's groups map to, or None."""
    raw = claims.get(cfg.groups_claim)
    groups = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    roles = [cfg.role_map[g] for g in groups if isinstance(g, str) and g in cfg.role_map]
    return max(roles, key=lambda r: ROLE_RANK[Role(r)]) if roles else None


def _is_break_glass(username: str) -> bool:
    name = settings.MELDPUNT_BREAK_GLASS_ADMIN
    return bool(name) and username.lower() == name.lower()


@dataclass(frozen=True)
class Outcome:
    user: User | None
    reason: str  # why there is no user: "no_role", "deactivated" (by an admin), "name_taken"


def sign_in(cfg: Config, claims: dict[str, Any]) -> Outcome:
    """The account these verified claims stand for, made or updated per the groups."""
    subject = str(claims["sub"])
    role = role_for(cfg, claims)
    with transaction.atomic():
        link = (
            OidcIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=cfg.issuer, subject=subject)
            .first()
        )
        if link is None:
            if role is None:
                audit("sso_refused", "anonymous", reason="no_role")
                return Outcome(None, "no_role")
            return _provision(cfg, claims, subject, role)
        user = link.user
        if role is None:
            if user.is_active:
                user.is_active = False
                user.save(update_fields=["is_active"])
                link.deprovisioned = True
                link.save(update_fields=["deprovisioned"])
                ended = end_sessions(user)
                audit("sso_deprovisioned", staff_actor(user), sessions_ended=ended)
            return Outcome(None, "no_role")
        if not user.is_active:
            if not link.deprovisioned:
                audit("sso_refused", staff_actor(user), reason="deactivated")
                return Outcome(None, "deactivated")
            user.is_active = True
            user.save(update_fields=["is_active"])
            link.deprovisioned = False
            link.save(update_fields=["deprovisioned"])
            audit("sso_reprovisioned", staff_actor(user), role=role)
        _set_role(user, role)
        return Outcome(user, "")


def _username(claims: dict[str, Any]) -> str:
    for name in ("email", "preferred_username"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:150]
    return f"sso-{claims['sub']}"[:150]


def _provision(cfg: Config, claims: dict[str, Any], subject: str, role: str) -> Outcome:
    username = _username(claims)
    # A local account of the same name is not taken over: the break-glass admin must stay
    # outside the identity provider's reach, and a name alone proves nothing.
    if _is_break_glass(username) or User.objects.filter(username__iexact=username).exists():
        audit("sso_refused", "anonymous", reason="name_taken")
        return Outcome(None, "name_taken")
    try:
        with transaction.atomic():
            email = claims.get("email") if isinstance(claims.get("email"), str) else ""
            user = User.objects.create_user(username=username, email=str(email or ""))
            user.set_unusable_password()  # signs in through the identity provider only
            user.is_staff = True
            user.is_superuser = role == Role.ADMIN
            user.save()
            user.user_permissions.set(
                Permission.objects.filter(
                    content_type__app_label="reports", codename__in=READ_REPORTS
                )
            )
            StaffProfile.objects.create(user=user, role=role)
            OidcIdentity.objects.create(user=user, issuer=cfg.issuer, subject=subject)
    except IntegrityError:
        audit("sso_refused", "anonymous", reason="name_taken")
        return Outcome(None, "name_taken")
    audit("sso_provisioned", staff_actor(user), role=role)
    return Outcome(user, "")


def _set_role(user: User, role: str) -> None:
    profile = StaffProfile.objects.select_for_update().get(user_id=user.pk)
    if profile.role == role:
        return
    old = profile.role
    profile.role = role
    profile.save(update_fields=["role"])
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["is_superuser"])
    audit("sso_role_changed", staff_actor(user), old=old, new=role)
