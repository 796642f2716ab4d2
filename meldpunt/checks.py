"""System checks that explain a bad configuration in one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from meldpunt.lib.bind import bind_mismatch, is_wildcard, parse_bind
from meldpunt.lib.crypto import KeyFileError, key_file_is_private, parse_key_file
from meldpunt.lib.deadlines import configuration_problems
from meldpunt.reports.assessment import CVSS_VERSIONS


@checks.register()
def configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = [
        checks.Error(message, id="meldpunt.E001") for message in settings.CONFIG_ERRORS
    ]
    url = urlsplit(settings.MELDPUNT_BASE_URL)
    if url.scheme not in {"http", "https"} or not url.hostname or url.path not in {"", "/"}:
        errors.append(
            checks.Error(
                f"MELDPUNT_BASE_URL={settings.MELDPUNT_BASE_URL!r} must look like "
                "https://host[:port] (no path).",
                id="meldpunt.E002",
            )
        )
    try:
        validate_email(settings.MELDPUNT_SECURITY_CONTACT)
    except ValidationError:
        errors.append(
            checks.Error(
                f"MELDPUNT_SECURITY_CONTACT={settings.MELDPUNT_SECURITY_CONTACT!r} "
                "is not an e-mail address.",
                id="meldpunt.E003",
            )
        )
    if not settings.MELDPUNT_ORG_NAME:
        errors.append(checks.Error("MELDPUNT_ORG_NAME must not be empty.", id="meldpunt.E005"))
    return errors


@checks.register()
def bind_and_base_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    bind = settings.MELDPUNT_BIND
    parsed = parse_bind(bind)
    if parsed is None:
        if bind.startswith("unix:"):
            return []
        message = f"MELDPUNT_BIND={bind!r} must look like HOST:PORT or [IPv6]:PORT."
        return [checks.Error(message, id="meldpunt.E007")]
    if settings.MELDPUNT_BASE_URL_DERIVED:
        if not is_wildcard(parsed[0]):
            return []
        # Listening everywhere usually means others should reach it, under a name the bind
        # cannot tell: the derived links would send finders to their own machine.
        message = (
            f"MELDPUNT_BIND={bind} listens on every address, but links name "
            f"{settings.MELDPUNT_BASE_URL}: set MELDPUNT_BASE_URL to the address others use."
        )
        return [checks.Warning(message, id="meldpunt.W002")]
    if problem := bind_mismatch(bind, settings.MELDPUNT_BASE_URL):
        return [checks.Warning(problem, id="meldpunt.W001")]
    return []


@checks.register()
def deadline_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(problem, id="meldpunt.E010") for problem in configuration_problems()]


@checks.register()
def severity_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    primary = settings.MELDPUNT_PRIMARY_CVSS
    if primary in CVSS_VERSIONS:
        return []
    message = f"MELDPUNT_PRIMARY_CVSS={primary!r} must be one of {', '.join(CVSS_VERSIONS)}."
    return [checks.Error(message, id="meldpunt.E020")]


@checks.register()
def key_file(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    path = Path(settings.MELDPUNT_KEY_FILE)
    try:
        parse_key_file(path)
    except KeyFileError as exc:
        return [checks.Error(str(exc), id="meldpunt.E004")]
    if not key_file_is_private(path):
        return [
            checks.Error(
                f"key file {path} is readable by other users; run: chmod 600 {path}",
                id="meldpunt.E006",
            )
        ]
    return []


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _oidc_issuer_problem(deploy: bool) -> list[checks.CheckMessage]:
    issuer = settings.MELDPUNT_OIDC_ISSUER
    if not issuer:
        return []
    problems: list[checks.CheckMessage] = []
    for name, value in [("MELDPUNT_OIDC_ISSUER", issuer)] + [
        ("MELDPUNT_OIDC_ENDPOINT_ORIGINS", origin)
        for origin in settings.MELDPUNT_OIDC_ENDPOINT_ORIGINS
    ]:
        url = urlsplit(value)
        if url.scheme == "https" and url.hostname and not url.query and not url.fragment:
            continue
        # Plain http lets anyone on the path forge the keys and the sign-in: tests and a
        # developer's machine (DEBUG, or loopback) only, never `check --deploy`.
        if url.scheme == "http" and not deploy and (settings.DEBUG or url.hostname in _LOOPBACK):
            continue
        message = f"{name}={value!r} must be an https:// URL (no query or fragment)."
        problems.append(checks.Error(message, id="meldpunt.E030"))
    return problems


@checks.register()
def oidc_issuer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return _oidc_issuer_problem(deploy=False)


@checks.register(checks.Tags.security, deploy=True)
def oidc_issuer_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if _oidc_issuer_problem(deploy=False):
        return []  # said once already by oidc_issuer
    return _oidc_issuer_problem(deploy=True)
