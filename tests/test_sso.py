"""Staff single sign-on, end to end against a real OpenID Provider (npm `oidc-provider`).

The provider runs as a Node process on loopback (tests/oidc/provider.mjs); its codes, tokens
and signatures are its own. The desk is driven in-process with Django's test client.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.checks import run_checks
from django.test import Client

from meldpunt.accounts import oidc
from meldpunt.accounts.gate import SECOND_FACTOR_AT
from meldpunt.accounts.models import OidcIdentity, StaffProfile
from meldpunt.accounts.sso_views import SSO_PENDING
from meldpunt.accounts.staff import set_active
from meldpunt.audit.models import AuditEntry
from tests.conftest import PASSWORD, make_staff
from tests.mailservers import free_port
from tests.oidc import Provider, idp_sign_in, running_provider, sso

REDIRECT = "http://127.0.0.1:8000/triage/login/sso/callback/"
ROLE_MAP = {"sec-admins": "admin", "sec-triage": "triager", "sec-view": "viewer"}


# One worker runs the whole module: the provider (a Node process) starts once.
pytestmark = pytest.mark.xdist_group("oidc_provider")


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider(REDIRECT) as running:
        yield running


@pytest.fixture(autouse=True)
def configured(settings: Any, provider: Provider, db: Any) -> Any:
    cache.clear()  # discovery and keys are cached per issuer
    settings.MELDPUNT_BASE_URL = "http://127.0.0.1:8000"
    settings.MELDPUNT_OIDC_ISSUER = provider.issuer
    settings.MELDPUNT_OIDC_CLIENT_ID = "meldpunt"
    settings.MELDPUNT_OIDC_CLIENT_SECRET = provider.secret("meldpunt")
    settings.MELDPUNT_OIDC_NAME = "Example IdP"
    settings.MELDPUNT_OIDC_SCOPES = ["openid", "email", "groups"]
    settings.MELDPUNT_OIDC_ROLE_MAP = ROLE_MAP
    settings.MELDPUNT_OIDC_ACCEPT_MFA = False
    return settings


def actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def profile(username: str) -> StaffProfile:
    return StaffProfile.objects.select_related("user").get(user__username=username)


def test_it_offers_single_sign_on_on_the_sign_in_page() -> None:
    page = Client().get("/triage/login/").content.decode()
    assert 'href="/triage/login/sso/"' in page
    assert "Sign in with Example IdP" in page


def test_it_provisions_an_account_with_the_mapped_role_and_asks_the_desk_factor() -> None:
    client = Client()
    answer = sso(client, "dora", ["staff", "sec-triage"])
    # The identity provider's password alone is not the desk's second factor.
    assert answer.status_code == 303 and answer["Location"] == "/triage/login/enrol/"
    assert profile("dora@example.org").role == "triager"
    dora = User.objects.get(username="dora@example.org")
    assert not dora.has_usable_password()
    assert OidcIdentity.objects.get(user=dora).subject == "dora"
    assert client.get("/triage/").status_code == 302  # not signed in before the factor
    assert {"sso_provisioned", "sso_login"} <= set(actions())


def test_it_accepts_the_identity_providers_multi_factor_when_configured(configured: Any) -> None:
    configured.MELDPUNT_OIDC_ACCEPT_MFA = True
    client = Client()
    answer = sso(client, "erin", ["sec-admins"], amr=["pwd", "otp"])
    assert answer.status_code == 303 and answer["Location"] == "/triage/"
    assert client.get("/triage/").status_code == 200
    assert profile("erin@example.org").role == "admin"
    # A password-only sign-in at the provider still owes the desk's own factor.
    other = Client()
    answer = sso(other, "erin", ["sec-admins"], amr=["pwd"])
    assert answer["Location"] == "/triage/login/enrol/"
    assert other.get("/triage/").status_code == 302


def test_it_ignores_multi_factor_claims_unless_accepted() -> None:
    client = Client()
    answer = sso(client, "fred", ["sec-view"], amr=["pwd", "hwk"])
    assert answer["Location"] == "/triage/login/enrol/"


def test_it_makes_no_account_for_a_user_outside_the_mapped_groups() -> None:
    answer = sso(Client(), "mallory", ["marketing"])
    assert answer.status_code == 403
    assert b"gives no access" in answer.content
    assert not User.objects.filter(username="mallory@example.org").exists()
    assert "sso_refused" in actions()


def test_it_follows_a_role_change_at_the_next_sign_in() -> None:
    sso(Client(), "gina", ["sec-admins"])
    assert profile("gina@example.org").role == "admin"
    assert profile("gina@example.org").user.is_superuser
    sso(Client(), "gina", ["sec-view", "other"])
    gina = profile("gina@example.org")
    assert gina.role == "viewer" and not gina.user.is_superuser
    assert "sso_role_changed" in actions()


def test_it_ends_access_and_sessions_of_a_user_removed_from_the_groups(configured: Any) -> None:
    configured.MELDPUNT_OIDC_ACCEPT_MFA = True
    desk = Client()
    sso(desk, "hugo", ["sec-triage"], amr=["otp"])
    assert desk.get("/triage/").status_code == 200
    answer = sso(Client(), "hugo", [], amr=["otp"])
    assert answer.status_code == 403
    hugo = User.objects.get(username="hugo@example.org")
    assert not hugo.is_active
    assert desk.get("/triage/").status_code == 302  # the earlier session is gone
    assert "sso_deprovisioned" in actions()
    # Back in a group: the same account, active again.
    back = Client()
    assert sso(back, "hugo", ["sec-view"], amr=["otp"])["Location"] == "/triage/"
    assert User.objects.get(pk=hugo.pk).is_active


def test_it_keeps_an_account_an_admin_deactivated_inactive() -> None:
    sso(Client(), "nina", ["sec-triage"])
    nina = User.objects.get(username="nina@example.org")
    set_active(nina, False)
    answer = sso(Client(), "nina", ["sec-triage"])
    assert answer.status_code == 403 and b"deactivated by an administrator" in answer.content
    assert not User.objects.get(pk=nina.pk).is_active


def test_it_refuses_an_answer_with_another_state() -> None:
    client = Client()
    start = client.get("/triage/login/sso/")
    callback = idp_sign_in(start["Location"], "ivan", ["sec-admins"])
    forged = callback.replace("state=", "state=x")
    answer = client.get(forged)
    assert answer.status_code == 400
    assert not User.objects.filter(username="ivan@example.org").exists()
    assert actions() == ["sso_refused"]
    # Nor may the real answer be used after that: the attempt is spent.
    assert client.get(callback).status_code == 400


def test_it_refuses_a_replayed_code(configured: Any) -> None:
    configured.MELDPUNT_OIDC_ACCEPT_MFA = True
    client = Client()
    start = client.get("/triage/login/sso/")
    pending = client.session[SSO_PENDING]
    callback = idp_sign_in(start["Location"], "jane", ["sec-view"], amr=["otp"])
    assert client.get(callback).status_code == 303
    # An attacker holding the same session and the used code: the provider refuses it.
    thief = Client()
    session = thief.session
    session[SSO_PENDING] = pending
    session.save()
    answer = thief.get(callback)
    assert answer.status_code == 400
    assert thief.get("/triage/").status_code == 302


def _real_token(provider: Provider, client_id: str) -> tuple[str, str]:
    """An ID token the provider issued to `client_id`, and its nonce."""
    cfg = oidc.Config(
        issuer=provider.issuer,
        client_id=client_id,
        client_secret=provider.secret(client_id),
        name="x",
        scopes=("openid", "groups"),
    )
    begun = oidc.start(cfg, REDIRECT)
    callback = idp_sign_in(begun.url, "kim", ["sec-view"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    metadata = oidc.metadata(cfg)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": begun.pending["verifier"],
    }
    token = oidc._request(cfg, metadata["token_endpoint"], body, auth=True)
    return str(token["id_token"]), str(begun.pending["nonce"])


def test_it_refuses_an_id_token_issued_to_another_client(provider: Provider) -> None:
    cfg = oidc.config()
    assert cfg is not None
    id_token, nonce = _real_token(provider, "other-app")
    with pytest.raises(oidc.Refused, match="another client"):
        oidc.verify_id_token(cfg, id_token, nonce)
    own, own_nonce = _real_token(provider, "meldpunt")
    assert oidc.verify_id_token(cfg, own, own_nonce)["sub"] == "kim"
    with pytest.raises(oidc.Refused):
        oidc.verify_id_token(cfg, own, "another nonce")


def test_it_refuses_an_expired_id_token(provider: Provider) -> None:
    cfg = oidc.config()
    assert cfg is not None
    id_token, nonce = _real_token(provider, "meldpunt")
    claims = oidc.verify_id_token(cfg, id_token, nonce)
    later = float(claims["exp"]) + cfg.leeway + 1
    with pytest.raises(oidc.Refused, match="ExpiredToken"):
        oidc.verify_id_token(cfg, id_token, nonce, now=later)


def test_it_refuses_an_expired_id_token_end_to_end(
    configured: Any, provider: Provider, caplog: Any
) -> None:
    configured.MELDPUNT_OIDC_CLIENT_ID = "stale-app"
    configured.MELDPUNT_OIDC_CLIENT_SECRET = provider.secret("stale-app")
    with caplog.at_level("INFO", logger="meldpunt.accounts.sso_views"):
        answer = sso(Client(), "olga", ["sec-admins"])
    assert "ExpiredToken" in caplog.text
    assert answer.status_code == 400
    assert b"could not be completed" in answer.content
    assert not User.objects.filter(username="olga@example.org").exists()


def test_it_refuses_a_forged_signature(provider: Provider) -> None:
    cfg = oidc.config()
    assert cfg is not None
    id_token, nonce = _real_token(provider, "meldpunt")
    head, payload, signature = id_token.split(".")
    forged = f"{head}.{payload}.{signature[:-6]}AAAAAA"
    with pytest.raises(oidc.Refused):
        oidc.verify_id_token(cfg, forged, nonce)


def test_it_shows_a_clear_page_when_the_provider_is_down_and_break_glass_works(
    configured: Any,
) -> None:
    configured.MELDPUNT_OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nobody listens
    configured.MELDPUNT_LOCAL_LOGIN = False
    configured.MELDPUNT_BREAK_GLASS_ADMIN = "root@example.org"
    make_staff("root@example.org", "admin")
    client = Client()
    answer = client.get("/triage/login/sso/")
    assert answer.status_code == 503
    assert b"cannot be reached right now" in answer.content
    configured.LANGUAGE_CODE = "nl"
    dutch = Client(headers={"accept-language": "nl"}).get("/triage/login/sso/")
    assert b"niet bereikbaar" in dutch.content
    answer = client.post("/triage/login/", {"username": "root@example.org", "password": PASSWORD})
    assert answer.status_code == 303 and answer["Location"] == "/triage/login/verify/"


def test_it_refuses_passwords_of_other_accounts_when_local_login_is_off(configured: Any) -> None:
    configured.MELDPUNT_LOCAL_LOGIN = False
    configured.MELDPUNT_BREAK_GLASS_ADMIN = "root@example.org"
    make_staff("alice@example.org", "triager")
    answer = Client().post(
        "/triage/login/", {"username": "alice@example.org", "password": PASSWORD}
    )
    assert answer.status_code == 400
    assert b"switched off" in answer.content


def test_it_never_hands_the_break_glass_account_to_the_provider(configured: Any) -> None:
    configured.MELDPUNT_BREAK_GLASS_ADMIN = "root@example.org"
    make_staff("root@example.org", "admin")
    answer = sso(Client(), "root", ["sec-admins"])
    assert answer.status_code == 403
    assert not OidcIdentity.objects.exists()


def test_it_asks_fresh_proof_at_the_provider_for_a_sensitive_action(configured: Any) -> None:
    configured.MELDPUNT_OIDC_ACCEPT_MFA = True
    client = Client()
    sso(client, "lena", ["sec-admins"], amr=["hwk"])
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600  # the proof is old now
    session.save()
    again = client.get("/triage/login/again/?next=/triage/")
    assert b"Confirm with Example IdP" in again.content
    start = client.get("/triage/login/sso/?again=1&next=/triage/")
    assert "prompt=login" in start["Location"] and "max_age=0" in start["Location"]
    answer = client.get(idp_sign_in(start["Location"], "lena", ["sec-admins"], amr=["hwk"]))
    assert answer.status_code == 303 and answer["Location"] == "/triage/"
    assert time.time() - client.session[SECOND_FACTOR_AT] < 60
    # Someone else's proof does not count.
    session = client.session
    session[SECOND_FACTOR_AT] = time.time() - 3600
    session.save()
    start = client.get("/triage/login/sso/?again=1&next=/triage/")
    answer = client.get(idp_sign_in(start["Location"], "mike", ["sec-admins"], amr=["hwk"]))
    assert answer.status_code == 403


def test_it_refuses_a_discovery_document_pointing_elsewhere(provider: Provider) -> None:
    cfg = oidc.Config(issuer=provider.issuer, client_id="meldpunt", client_secret="s", name="x")
    with pytest.raises(oidc.Unavailable, match="another host"):
        oidc._request(cfg, "http://192.0.2.1/token")


def test_it_asks_another_origin_only_when_the_admin_named_it(provider: Provider) -> None:
    """The same real provider under another host name (localhost) stands in for an IdP such
    as Google, whose token endpoint and keys are not on the issuer's host."""
    elsewhere = provider.issuer.replace("127.0.0.1", "localhost")
    url = f"{elsewhere}/.well-known/openid-configuration"
    cfg = oidc.Config(issuer=provider.issuer, client_id="meldpunt", client_secret="s", name="x")
    with pytest.raises(oidc.Unavailable, match="another host"):
        oidc._request(cfg, url)
    named = dataclasses.replace(cfg, endpoint_origins=frozenset({elsewhere}))
    assert named.endpoint_origins and oidc._request(named, url)["issuer"] == provider.issuer
    # Naming one origin does not open another.
    with pytest.raises(oidc.Unavailable, match="another host"):
        oidc._request(named, "http://192.0.2.1/token")


def test_it_writes_no_audit_entry_for_a_callback_nobody_started() -> None:
    assert Client().get("/triage/login/sso/callback/?state=x&code=y").status_code == 400
    assert actions() == []


def test_it_answers_404_without_configuration(configured: Any) -> None:
    configured.MELDPUNT_OIDC_ISSUER = ""
    assert Client().get("/triage/login/sso/").status_code == 404
    assert Client().get("/triage/login/sso/callback/").status_code == 404
    assert b"Sign in with" not in Client().get("/triage/login/").content


def test_it_refuses_an_http_issuer_in_deploy_checks(configured: Any) -> None:
    def ids(deploy: bool) -> set[str]:
        return {m.id or "" for m in run_checks(include_deployment_checks=deploy)}

    configured.DEBUG = False
    assert "meldpunt.E030" not in ids(False)  # loopback http: tests and development
    assert "meldpunt.E030" in ids(True)
    configured.MELDPUNT_OIDC_ISSUER = "http://idp.example.org"
    assert "meldpunt.E030" in ids(False)
    configured.MELDPUNT_OIDC_ISSUER = "https://idp.example.org/realms/staff"
    assert "meldpunt.E030" not in ids(True)
    configured.MELDPUNT_OIDC_ENDPOINT_ORIGINS = ["http://keys.example.org"]
    assert "meldpunt.E030" in ids(False)
    configured.MELDPUNT_OIDC_ENDPOINT_ORIGINS = ["https://keys.example.org"]
    assert "meldpunt.E030" not in ids(True)
