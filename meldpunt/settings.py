"""The one settings module. Everything an operator changes comes from the environment.

Values are parsed leniently here and validated by the system checks in
`meldpunt.checks`, so a bad value is reported in one clear line instead of a
traceback at import time.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url

from meldpunt.lib.bind import DEFAULT_BIND, url_for_bind

BASE_DIR = Path(__file__).resolve().parent
CONFIG_ERRORS: list[str] = []


def env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        CONFIG_ERRORS.append(f"{name}={raw!r} is not a whole number.")
        return default
    if value < minimum:
        CONFIG_ERRORS.append(f"{name}={value} must be at least {minimum}.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = env(name, "1" if default else "0").lower()
    if raw not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        CONFIG_ERRORS.append(f"{name}={raw!r} must be true or false.")
        return default
    return raw in {"1", "true", "yes", "on"}


DATA_DIR = Path(env("MELDPUNT_DATA_DIR", str(Path.cwd() / "data"))).resolve()
MELDPUNT_KEY_FILE = Path(env("MELDPUNT_KEY_FILE", str(DATA_DIR / "keys" / "master-keys.json")))

DEBUG = env_bool("MELDPUNT_DEBUG", False)


def _secret_key() -> str:
    if key := env("MELDPUNT_SECRET_KEY", ""):
        return key
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        # The first start (or `meldpunt init`) makes one; several hosts must share it.
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


SECRET_KEY = _secret_key()

# --- The organisation and its policy commitments ---------------------------
# Where `meldpunt serve` listens (gunicorn's HOST:PORT, [IPv6]:PORT); `--bind` overrides it.
MELDPUNT_BIND = env("MELDPUNT_BIND", DEFAULT_BIND)
# Unset, the public URL follows the bind, so links in pages and mail reach the server.
MELDPUNT_BASE_URL_DERIVED = not env("MELDPUNT_BASE_URL", "")
MELDPUNT_BASE_URL = env(
    "MELDPUNT_BASE_URL", url_for_bind(MELDPUNT_BIND) or url_for_bind(DEFAULT_BIND) or ""
).rstrip("/")
MELDPUNT_ORG_NAME = env("MELDPUNT_ORG_NAME", "Example Organisation")
# The organisation's UUID in the CVE Program, for the CVE records (advisories/exports.py).
MELDPUNT_CVE_ORG_ID = env("MELDPUNT_CVE_ORG_ID", "")
MELDPUNT_SECURITY_CONTACT = env("MELDPUNT_SECURITY_CONTACT", "security@example.org")
MELDPUNT_FIRST_RESPONSE_DAYS = env_int("MELDPUNT_FIRST_RESPONSE_DAYS", 3, minimum=1)
MELDPUNT_PROGRESS_UPDATE_DAYS = env_int("MELDPUNT_PROGRESS_UPDATE_DAYS", 14, minimum=1)
MELDPUNT_NATIONAL_CSIRT = env("MELDPUNT_NATIONAL_CSIRT", "CCB")

# --- Outgoing mail (notices to finders, reminders to the team) ----------------
# A local mail server by default; tests swap in Django's in-memory backend.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# Without a mail server (the quick start) every outbound mail is written as a file to the
# mail sink instead of failing, unseen, against localhost:25; `meldpunt serve` and the staff
# pages say so.
EMAIL_FILE_PATH = str(DATA_DIR / "mail-sink")
if not env("MELDPUNT_SMTP_HOST", ""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_HOST = env("MELDPUNT_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("MELDPUNT_SMTP_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("MELDPUNT_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env("MELDPUNT_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("MELDPUNT_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("MELDPUNT_SMTP_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    CONFIG_ERRORS.append("MELDPUNT_SMTP_STARTTLS and MELDPUNT_SMTP_SSL exclude each other.")
    EMAIL_USE_SSL = False
EMAIL_TIMEOUT = env_int("MELDPUNT_SMTP_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = MELDPUNT_SECURITY_CONTACT
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The outbox (meldpunt.reports.outbox) retries a mail that the server refused for a while,
# with growing pauses, up to this many attempts; then the team sees it as failed.
MELDPUNT_OUTBOX_MAX_ATTEMPTS = env_int("MELDPUNT_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
# A worker that takes a mail holds it this long. After a crash another worker tries it again
# if it was not yet handed to the server, or marks it "unknown" (never sent twice) if it
# was. Keep it well above MELDPUNT_SMTP_TIMEOUT.
MELDPUNT_OUTBOX_LEASE_SECONDS = env_int("MELDPUNT_OUTBOX_LEASE_SECONDS", 600, minimum=5)
if MELDPUNT_OUTBOX_LEASE_SECONDS <= EMAIL_TIMEOUT:
    CONFIG_ERRORS.append("MELDPUNT_OUTBOX_LEASE_SECONDS must be longer than MELDPUNT_SMTP_TIMEOUT.")

# Webhooks (docs/webhooks.md). Private, loopback and link-local targets are refused (SSRF)
# unless an administrator allows them here, e.g. for a chat server inside the network.
MELDPUNT_WEBHOOK_ALLOW_PRIVATE = env_bool("MELDPUNT_WEBHOOK_ALLOW_PRIVATE", False)
MELDPUNT_WEBHOOK_TIMEOUT = env_int("MELDPUNT_WEBHOOK_TIMEOUT", 10, minimum=1)
# Requests one worker sends at once (threads that only wait on the network).
MELDPUNT_WEBHOOK_CONCURRENCY = env_int("MELDPUNT_WEBHOOK_CONCURRENCY", 8, minimum=1)
MELDPUNT_WEBHOOK_MAX_ATTEMPTS = env_int("MELDPUNT_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
# Failed attempts in a row after which an endpoint is disabled and the administrators told.
MELDPUNT_WEBHOOK_DISABLE_AFTER = env_int("MELDPUNT_WEBHOOK_DISABLE_AFTER", 15, minimum=1)
# Per-report reply addresses: <local><separator><reference>.<tag>@<domain> (sub-addressing,
# which most mail servers deliver to <local>@<domain>). Empty turns them off.
MELDPUNT_REPLY_SEPARATOR = env("MELDPUNT_REPLY_SEPARATOR", "+")
if MELDPUNT_REPLY_SEPARATOR not in {"", "+", "-", "_", "="}:
    CONFIG_ERRORS.append(
        f"MELDPUNT_REPLY_SEPARATOR={MELDPUNT_REPLY_SEPARATOR!r} must be one of + - _ = or empty."
    )
    MELDPUNT_REPLY_SEPARATOR = "+"
# --- End of outgoing mail -------------------------------------------------------

# --- Incoming mail (meldpunt fetchmail, meldpunt smtpd) ---------------------------
# The mailbox of the security contact address, polled over IMAP. MELDPUNT_IMAP_SECURITY is
# "tls" (IMAPS, port 993), "starttls" (port 143) or "none" (only for a server on loopback).
MELDPUNT_IMAP_HOST = env("MELDPUNT_IMAP_HOST", "")
MELDPUNT_IMAP_SECURITY = env("MELDPUNT_IMAP_SECURITY", "tls").lower()
if MELDPUNT_IMAP_SECURITY not in {"tls", "starttls", "none"}:
    CONFIG_ERRORS.append(
        f"MELDPUNT_IMAP_SECURITY={MELDPUNT_IMAP_SECURITY!r} must be tls, starttls or none."
    )
    MELDPUNT_IMAP_SECURITY = "tls"
MELDPUNT_IMAP_PORT = env_int(
    "MELDPUNT_IMAP_PORT", 993 if MELDPUNT_IMAP_SECURITY == "tls" else 143, minimum=1
)
MELDPUNT_IMAP_USER = env("MELDPUNT_IMAP_USER", "")
MELDPUNT_IMAP_PASSWORD = env("MELDPUNT_IMAP_PASSWORD", "")
MELDPUNT_IMAP_FOLDER = env("MELDPUNT_IMAP_FOLDER", "INBOX")
# Where processed mail is moved; empty keeps it in the folder, flagged \Seen and $Meldpunt.
MELDPUNT_IMAP_PROCESSED_FOLDER = env("MELDPUNT_IMAP_PROCESSED_FOLDER", "")
# A CA bundle for a server whose certificate the system does not trust (e.g. an own CA).
MELDPUNT_IMAP_CA_FILE = env("MELDPUNT_IMAP_CA_FILE", "")
MELDPUNT_IMAP_POLL_SECONDS = env_int("MELDPUNT_IMAP_POLL_SECONDS", 60, minimum=5)
# `meldpunt smtpd` listens here for mail delivered straight to Meldpunt.
MELDPUNT_SMTPD_BIND = env("MELDPUNT_SMTPD_BIND", "127.0.0.1:2525")
# Larger mail is refused (SMTP) or stored as a failed intake (IMAP).
MELDPUNT_MAIL_MAX_BYTES = env_int("MELDPUNT_MAIL_MAX_BYTES", 25 * 1024 * 1024, minimum=64 * 1024)
# Automatic answers (with our key) per sender address and day, so we never flood anyone.
MELDPUNT_AUTOREPLY_LIMIT = env_int("MELDPUNT_AUTOREPLY_LIMIT", 3, minimum=1)
MELDPUNT_AUTOREPLY_GLOBAL_LIMIT = env_int("MELDPUNT_AUTOREPLY_GLOBAL_LIMIT", 500, minimum=1)
# --- End of incoming mail -----------------------------------------------------------

# --- security.txt (RFC 9116) ---------------------------------------------------------
# Expires is set this many days ahead, and the worker renews the signed file once fewer
# than MELDPUNT_SECURITY_TXT_RENEW_DAYS are left.
MELDPUNT_SECURITY_TXT_DAYS = env_int("MELDPUNT_SECURITY_TXT_DAYS", 180, minimum=7)
MELDPUNT_SECURITY_TXT_RENEW_DAYS = env_int("MELDPUNT_SECURITY_TXT_RENEW_DAYS", 60, minimum=1)
if MELDPUNT_SECURITY_TXT_DAYS > 364:
    CONFIG_ERRORS.append("MELDPUNT_SECURITY_TXT_DAYS must be less than a year (RFC 9116).")
    MELDPUNT_SECURITY_TXT_DAYS = 180
if MELDPUNT_SECURITY_TXT_RENEW_DAYS >= MELDPUNT_SECURITY_TXT_DAYS:
    CONFIG_ERRORS.append(
        "MELDPUNT_SECURITY_TXT_RENEW_DAYS must be less than MELDPUNT_SECURITY_TXT_DAYS."
    )
    MELDPUNT_SECURITY_TXT_RENEW_DAYS = MELDPUNT_SECURITY_TXT_DAYS // 3

# --- Deadlines: how the days above are counted (meldpunt.lib.deadlines) -----
# "calendar" (every day counts) or "business" (weekends and the public holidays of
# MELDPUNT_HOLIDAY_COUNTRY, an ISO 3166 code, do not). MELDPUNT_HOLIDAY_SUBDIVISION adds a
# region's holidays, spelt as the `holidays` package does (e.g. BY with DE for Bavaria).
# Validated by the system checks, which need the `holidays` package: not imported here.
MELDPUNT_DEADLINE_DAYS = env("MELDPUNT_DEADLINE_DAYS", "calendar").lower()
MELDPUNT_HOLIDAY_COUNTRY = env("MELDPUNT_HOLIDAY_COUNTRY", "BE").upper()
MELDPUNT_HOLIDAY_SUBDIVISION = env("MELDPUNT_HOLIDAY_SUBDIVISION", "")
# --- end of deadlines ----------------------------------------------------------

# The CVSS version whose score decides the severity everywhere (desk, API, advisories,
# CSAF): "4.0" or "3.1"; the other version is shown beside it. Validated by the checks.
MELDPUNT_PRIMARY_CVSS = env("MELDPUNT_PRIMARY_CVSS", "4.0").strip()

# --- Credit for a duplicate (meldpunt.reports.lifecycle.earns_credit) -------
# The policy's choice: "first" credits only the finder who reported a vulnerability first;
# "all" also credits every finder whose report was closed as a duplicate of it.
MELDPUNT_DUPLICATE_CREDIT = env("MELDPUNT_DUPLICATE_CREDIT", "first").lower()
if MELDPUNT_DUPLICATE_CREDIT not in ("first", "all"):
    CONFIG_ERRORS.append(
        f"MELDPUNT_DUPLICATE_CREDIT={MELDPUNT_DUPLICATE_CREDIT!r} must be first or all."
    )
    MELDPUNT_DUPLICATE_CREDIT = "first"

# --- Intake limits ----------------------------------------------------------
MELDPUNT_MAX_ATTACHMENTS = env_int("MELDPUNT_MAX_ATTACHMENTS", 10, minimum=0)
MELDPUNT_MAX_ATTACHMENT_BYTES = env_int(
    "MELDPUNT_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=1024
)
MELDPUNT_MAX_TEXT_CHARS = env_int("MELDPUNT_MAX_TEXT_CHARS", 50_000, minimum=1000)
# Disk limits: attachments are refused (with a clear message, nothing stored) when the
# data directory's disk would keep less than this free, or when all attachments together
# would exceed the quota (0: no quota).
MELDPUNT_DISK_MIN_FREE_BYTES = env_int("MELDPUNT_DISK_MIN_FREE_BYTES", 512 * 1024 * 1024)
MELDPUNT_ATTACHMENTS_MAX_BYTES = env_int("MELDPUNT_ATTACHMENTS_MAX_BYTES", 0)
# The largest request body accepted at all: every attachment at its maximum, plus the text.
MELDPUNT_MAX_REQUEST_BYTES = (
    MELDPUNT_MAX_ATTACHMENTS * MELDPUNT_MAX_ATTACHMENT_BYTES
    + 16 * MELDPUNT_MAX_TEXT_CHARS
    + 200_000
)
# A submission form stays valid this long; a retried POST of the same form within
# MELDPUNT_RESUBMIT_MINUTES shows the same receipt instead of a second report.
MELDPUNT_FORM_MAX_AGE_HOURS = env_int("MELDPUNT_FORM_MAX_AGE_HOURS", 24, minimum=1)
MELDPUNT_RESUBMIT_MINUTES = env_int("MELDPUNT_RESUBMIT_MINUTES", 15, minimum=1)

# --- Receipt portal -----------------------------------------------------------
MELDPUNT_STATUS_SESSION_MINUTES = env_int("MELDPUNT_STATUS_SESSION_MINUTES", 30, minimum=1)
MELDPUNT_RECEIPT_CLIENT_LIMIT = env_int("MELDPUNT_RECEIPT_CLIENT_LIMIT", 10, minimum=1)
MELDPUNT_RECEIPT_GLOBAL_LIMIT = env_int("MELDPUNT_RECEIPT_GLOBAL_LIMIT", 500, minimum=1)
MELDPUNT_RECEIPT_WINDOW_MINUTES = env_int("MELDPUNT_RECEIPT_WINDOW_MINUTES", 15, minimum=1)
MELDPUNT_STAFF_LOGIN_LIMIT = env_int("MELDPUNT_STAFF_LOGIN_LIMIT", 10, minimum=1)
MELDPUNT_STAFF_LOGIN_GLOBAL_LIMIT = env_int("MELDPUNT_STAFF_LOGIN_GLOBAL_LIMIT", 300, minimum=1)
# Single sign-on with OpenID Connect (docs/sso.md); off while MELDPUNT_OIDC_ISSUER is empty.
MELDPUNT_OIDC_ISSUER = env("MELDPUNT_OIDC_ISSUER", "").rstrip("/")
MELDPUNT_OIDC_CLIENT_ID = env("MELDPUNT_OIDC_CLIENT_ID", "")
MELDPUNT_OIDC_CLIENT_SECRET = env("MELDPUNT_OIDC_CLIENT_SECRET", "")
MELDPUNT_OIDC_NAME = env("MELDPUNT_OIDC_NAME", "single sign-on")
MELDPUNT_OIDC_SCOPES = env("MELDPUNT_OIDC_SCOPES", "openid email profile").split()
MELDPUNT_OIDC_GROUPS_CLAIM = env("MELDPUNT_OIDC_GROUPS_CLAIM", "groups")
MELDPUNT_OIDC_ROLE_MAP: dict[str, str] = {}
MELDPUNT_OIDC_ACCEPT_MFA = env_bool("MELDPUNT_OIDC_ACCEPT_MFA", False)
# The `amr` values (RFC 8176) or `acr` values that count as multi-factor when accepted.
MELDPUNT_OIDC_MFA_AMR = [
    v for v in map(str.strip, env("MELDPUNT_OIDC_MFA_AMR", "mfa,otp,hwk,swk").split(",")) if v
]
MELDPUNT_OIDC_MFA_ACR = [
    v for v in map(str.strip, env("MELDPUNT_OIDC_MFA_ACR", "").split(",")) if v
]
MELDPUNT_OIDC_LEEWAY_SECONDS = env_int("MELDPUNT_OIDC_LEEWAY_SECONDS", 60, minimum=0)
MELDPUNT_OIDC_TIMEOUT_SECONDS = env_int("MELDPUNT_OIDC_TIMEOUT_SECONDS", 10, minimum=1)
# Origins besides the issuer's own that discovery may name for the token endpoint and keys
# (Google: https://oauth2.googleapis.com,https://www.googleapis.com). Only these are asked.
MELDPUNT_OIDC_ENDPOINT_ORIGINS = [
    v.rstrip("/") for v in map(str.strip, env("MELDPUNT_OIDC_ENDPOINT_ORIGINS", "").split(",")) if v
]
# Password sign-in can be switched off for everyone but one named break-glass admin.
MELDPUNT_LOCAL_LOGIN = env_bool("MELDPUNT_LOCAL_LOGIN", True)
MELDPUNT_BREAK_GLASS_ADMIN = env("MELDPUNT_BREAK_GLASS_ADMIN", "")
if MELDPUNT_OIDC_ISSUER:
    if not (MELDPUNT_OIDC_CLIENT_ID and MELDPUNT_OIDC_CLIENT_SECRET):
        CONFIG_ERRORS.append(
            "MELDPUNT_OIDC_ISSUER is set: MELDPUNT_OIDC_CLIENT_ID and "
            "MELDPUNT_OIDC_CLIENT_SECRET are needed too."
        )
    if "openid" not in MELDPUNT_OIDC_SCOPES:
        CONFIG_ERRORS.append("MELDPUNT_OIDC_SCOPES must include openid.")
    for _item in filter(None, (p.strip() for p in env("MELDPUNT_OIDC_ROLE_MAP", "").split(","))):
        _group, _, _role = _item.rpartition("=")
        if not _group.strip() or _role.strip() not in {"admin", "triager", "viewer"}:
            CONFIG_ERRORS.append(
                f"MELDPUNT_OIDC_ROLE_MAP: {_item!r} must look like GROUP=admin|triager|viewer."
            )
        else:
            MELDPUNT_OIDC_ROLE_MAP[_group.strip()] = _role.strip()
    if not MELDPUNT_OIDC_ROLE_MAP:
        CONFIG_ERRORS.append("MELDPUNT_OIDC_ROLE_MAP must map at least one group to a role.")
    for _origin in MELDPUNT_OIDC_ENDPOINT_ORIGINS:
        _parts = urlsplit(_origin)
        if _parts.scheme not in {"http", "https"} or not _parts.hostname or _parts.path:
            CONFIG_ERRORS.append(
                f"MELDPUNT_OIDC_ENDPOINT_ORIGINS: {_origin!r} must look like https://host[:port]."
            )
if not MELDPUNT_LOCAL_LOGIN and not MELDPUNT_BREAK_GLASS_ADMIN:
    CONFIG_ERRORS.append(
        "MELDPUNT_LOCAL_LOGIN is off: name the break-glass admin in MELDPUNT_BREAK_GLASS_ADMIN."
    )
# A browser where a staff member signed in stays known (a device cookie) this long: its
# sign-in attempts count against its own limit, not the per-client/account/global ones.
MELDPUNT_STAFF_DEVICE_DAYS = env_int("MELDPUNT_STAFF_DEVICE_DAYS", 30, minimum=1)
# An active staff account without a sign-in for this long is reported to the admins (once).
MELDPUNT_STAFF_INACTIVE_DAYS = env_int("MELDPUNT_STAFF_INACTIVE_DAYS", 90, minimum=1)
# A staff sign-in ends this long after it began, however busy the session (the idle
# time-out is MELDPUNT_STATUS_SESSION_MINUTES, the session cookie's age).
MELDPUNT_STAFF_SESSION_HOURS = env_int("MELDPUNT_STAFF_SESSION_HOURS", 12, minimum=1)
# Passkeys (WebAuthn) as the staff second factor. Required: a code from the authenticator
# app no longer signs in (it can be phished); staff without a passkey sign in with TOTP
# once and must register one before anything else. TOTP_AS_RECOVERY lets TOTP and the
# recovery codes stand in for a lost passkey (off: the operator resets the second factor).
MELDPUNT_REQUIRE_PASSKEYS = env_bool("MELDPUNT_REQUIRE_PASSKEYS", False)
MELDPUNT_TOTP_AS_RECOVERY = env_bool("MELDPUNT_TOTP_AS_RECOVERY", False)
MELDPUNT_SUBMIT_CLIENT_LIMIT = env_int("MELDPUNT_SUBMIT_CLIENT_LIMIT", 20, minimum=1)
MELDPUNT_SUBMIT_WINDOW_MINUTES = env_int("MELDPUNT_SUBMIT_WINDOW_MINUTES", 60, minimum=1)
# Number of reverse proxies in front of Meldpunt whose X-Forwarded-For is trusted.
MELDPUNT_TRUSTED_PROXIES = env_int("MELDPUNT_TRUSTED_PROXIES", 0, minimum=0)
# Rate limits live in the database; with a Redis URL (redis://host:6379/0) they live there,
# which is cheaper under a flood. Several web workers and hosts share either.
MELDPUNT_REDIS_URL = env("MELDPUNT_REDIS_URL", "")
if MELDPUNT_REDIS_URL and not MELDPUNT_REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    CONFIG_ERRORS.append("MELDPUNT_REDIS_URL must start with redis://, rediss:// or unix://.")
    MELDPUNT_REDIS_URL = ""
# Reports per window from the whole internet: a brake on a distributed flood, far above
# what a desk ever receives.
MELDPUNT_SUBMIT_GLOBAL_LIMIT = env_int("MELDPUNT_SUBMIT_GLOBAL_LIMIT", 1000, minimum=1)
# Optional proof-of-work on the report form (ALTCHA v1, computed by the page's own
# script). Without a solution (JavaScript off) a client may still send this many reports
# per window; with one, the normal per-client limit applies.
MELDPUNT_PROOF_OF_WORK = env_bool("MELDPUNT_PROOF_OF_WORK", False)
MELDPUNT_POW_MAX_NUMBER = env_int("MELDPUNT_POW_MAX_NUMBER", 100_000, minimum=1000)
MELDPUNT_SUBMIT_NOPOW_LIMIT = env_int("MELDPUNT_SUBMIT_NOPOW_LIMIT", 3)

MELDPUNT_WORKERS = env_int("MELDPUNT_WORKERS", 4, minimum=1)
# Threads per web worker: a request waiting for the database holds one thread, not the
# worker, so static files and pages without the database keep answering meanwhile.
MELDPUNT_THREADS = env_int("MELDPUNT_THREADS", 4, minimum=1)
# Background work: how often the worker looks for due reminders, and how early it warns.
MELDPUNT_SCHEDULE_SECONDS = env_int("MELDPUNT_SCHEDULE_SECONDS", 60, minimum=5)
MELDPUNT_REMINDER_HOURS = env_int("MELDPUNT_REMINDER_HOURS", 24, minimum=1)

# --- Health and metrics (docs/monitoring.md) -------------------------------------
# /readyz details (JSON) for a load balancer or a monitor that sends this bearer token.
MELDPUNT_HEALTH_TOKEN = env("MELDPUNT_HEALTH_TOKEN", "")
# Which host a heartbeat came from (the host name when empty).
MELDPUNT_HOST_LABEL = env("MELDPUNT_HOST_LABEL", "")
# /readyz fails when no worker beat for this long (it beats every loop, at most every 15 s).
MELDPUNT_WORKER_STALE_SECONDS = env_int(
    "MELDPUNT_WORKER_STALE_SECONDS", max(300, 3 * MELDPUNT_SCHEDULE_SECONDS), minimum=30
)
# ... when fetchmail (IMAP configured) had no successful poll for this long.
MELDPUNT_INTAKE_STALE_SECONDS = env_int("MELDPUNT_INTAKE_STALE_SECONDS", 900, minimum=30)
# ... when a queued mail is overdue for sending this long, or this many wait to be sent.
MELDPUNT_OUTBOX_STALE_SECONDS = env_int("MELDPUNT_OUTBOX_STALE_SECONDS", 1800, minimum=60)
MELDPUNT_OUTBOX_MAX_QUEUED = env_int("MELDPUNT_OUTBOX_MAX_QUEUED", 500, minimum=1)
# ... and when the data directory has less than MELDPUNT_DISK_MIN_FREE_BYTES free (then
# attachments are refused already).
# /metrics (Prometheus): off unless enabled, then only for the token and/or the addresses.
MELDPUNT_METRICS = env_bool("MELDPUNT_METRICS", False)
MELDPUNT_METRICS_TOKEN = env("MELDPUNT_METRICS_TOKEN", "")
MELDPUNT_METRICS_ALLOW: list[str] = []
for _network in filter(None, (n.strip() for n in env("MELDPUNT_METRICS_ALLOW", "").split(","))):
    try:
        MELDPUNT_METRICS_ALLOW.append(str(ipaddress.ip_network(_network, strict=False)))
    except ValueError:
        CONFIG_ERRORS.append(f"MELDPUNT_METRICS_ALLOW: {_network!r} is not an address or network.")
if MELDPUNT_METRICS:
    # prometheus-client's multiprocess mode: every gunicorn worker writes its request counts
    # to files here, and a scrape adds them up. It must be set before prometheus-client is
    # first imported (Django's checks import the middleware), so here; `serve` empties it.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics"))
if MELDPUNT_METRICS and not (MELDPUNT_METRICS_TOKEN or MELDPUNT_METRICS_ALLOW):
    CONFIG_ERRORS.append(
        "MELDPUNT_METRICS=true needs MELDPUNT_METRICS_TOKEN or MELDPUNT_METRICS_ALLOW."
    )
# A finder not reached (mail deferred, failed, bounced; no address and the news unread):
# the assignee is told after this grace, which lets a deferred mail still go through.
MELDPUNT_NOT_REACHED_HOURS = env_int("MELDPUNT_NOT_REACHED_HOURS", 24, minimum=1)
# The promise ledger calls a pending promise "at risk" this long before it falls due.
MELDPUNT_PROMISE_RISK_HOURS = env_int("MELDPUNT_PROMISE_RISK_HOURS", 24, minimum=1)
# Legal reporting clocks (docs/regulatory-clocks.md): a manufacturer under the Cyber
# Resilience Act (Art. 14: actively exploited vulnerabilities) and/or an essential or
# important entity under NIS2 (Art. 23: significant incidents). Off: no clocks run.
MELDPUNT_CRA_MANUFACTURER = env_bool("MELDPUNT_CRA_MANUFACTURER", False)
MELDPUNT_NIS2_ENTITY = env_bool("MELDPUNT_NIS2_ENTITY", False)
# Advisories are numbered <prefix>-<year>-<serial>; the prefix is also the CSAF tracking id's.
MELDPUNT_ADVISORY_PREFIX = env("MELDPUNT_ADVISORY_PREFIX", "MPSA").upper()
# Retention: days after a report is published or closed until its attachments (which may
# hold data obtained through the hole) and the finder's contact data are purged.
MELDPUNT_RETENTION_ATTACHMENT_DAYS = env_int("MELDPUNT_RETENTION_ATTACHMENT_DAYS", 90, minimum=1)
MELDPUNT_RETENTION_CONTACT_DAYS = env_int("MELDPUNT_RETENTION_CONTACT_DAYS", 365, minimum=1)

# --- Languages ------------------------------------------------------------
SUPPORTED_LANGUAGES = {"nl": "Nederlands", "en": "English", "fr": "Français"}
_languages = [code.strip() for code in env("MELDPUNT_LANGUAGES", "nl,en,fr").split(",") if code]
for _code in _languages:
    if _code not in SUPPORTED_LANGUAGES:
        CONFIG_ERRORS.append(
            f"MELDPUNT_LANGUAGES: {_code!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}."
        )
_languages = [c for c in _languages if c in SUPPORTED_LANGUAGES] or ["en"]
LANGUAGES = [(code, SUPPORTED_LANGUAGES[code]) for code in _languages]
LANGUAGE_CODE = env("MELDPUNT_DEFAULT_LANGUAGE", _languages[0])
if LANGUAGE_CODE not in _languages:
    CONFIG_ERRORS.append(f"MELDPUNT_DEFAULT_LANGUAGE={LANGUAGE_CODE!r} is not in LANGUAGES.")
    LANGUAGE_CODE = _languages[0]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["meldpunt.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("MELDPUNT_TIME_ZONE", "Europe/Brussels")

# --- Hosts, database, storage ------------------------------------------------
_base_host = urlsplit(MELDPUNT_BASE_URL).hostname or "127.0.0.1"
if ":" in _base_host:
    _base_host = f"[{_base_host}]"  # Django compares IPv6 hosts in brackets
ALLOWED_HOSTS = sorted(
    {_base_host, "127.0.0.1", "localhost", "[::1]"}
    | {h.strip() for h in env("MELDPUNT_ALLOWED_HOSTS", "").split(",") if h.strip()}
)
CSRF_TRUSTED_ORIGINS = [MELDPUNT_BASE_URL]

DATABASE_URL = env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'meldpunt.sqlite3'}")
# A database that stops answering (frozen, overloaded, cut off) must cost a request a
# bounded wait and a 503, never a hung worker: seconds to connect, to run one statement
# (0: no limit), and to wait for the audit chain's lock. A statement that gets no answer
# at all (the server process is stopped, so it cannot cancel it itself) is cut off by the
# client a few seconds after MELDPUNT_DB_STATEMENT_TIMEOUT (meldpunt.lib.postgresql).
MELDPUNT_DB_CONNECT_TIMEOUT = env_int("MELDPUNT_DB_CONNECT_TIMEOUT", 5, minimum=1)
MELDPUNT_DB_STATEMENT_TIMEOUT = env_int("MELDPUNT_DB_STATEMENT_TIMEOUT", 30)
MELDPUNT_DB_LOCK_TIMEOUT = env_int("MELDPUNT_DB_LOCK_TIMEOUT", 10, minimum=1)


def _database(url: str) -> dict[str, Any]:
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        CONFIG_ERRORS.append(f"DATABASE_URL cannot be used: {exc}")
        config = dict(dj_database_url.parse(f"sqlite:///{DATA_DIR / 'meldpunt.sqlite3'}"))
    if config["ENGINE"] not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        CONFIG_ERRORS.append("DATABASE_URL must point to SQLite or PostgreSQL.")
        # Fall back so that Django starts far enough to report the error.
        config = dict(dj_database_url.parse(f"sqlite:///{DATA_DIR / 'meldpunt.sqlite3'}"))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets readers work while one writer commits; IMMEDIATE takes the
            # write lock at BEGIN so two writers queue instead of failing mid-way.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        # The same engine with a client-side deadline for a server that stops answering.
        config["ENGINE"] = "meldpunt.lib.postgresql"
        statement_ms = MELDPUNT_DB_STATEMENT_TIMEOUT * 1000
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "connect_timeout": MELDPUNT_DB_CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={statement_ms}",
            # Notice a vanished server host on an idle connection kept between requests.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "response_timeout": (
                MELDPUNT_DB_STATEMENT_TIMEOUT + 3 if MELDPUNT_DB_STATEMENT_TIMEOUT else 0
            ),
        }
    return config


DATABASES = {"default": _database(DATABASE_URL)}

# Where sealed attachments live: "database" (chunked rows, so several hosts need only the
# shared PostgreSQL, the secret key and the key file) or "files" (the data directory).
# New attachments go to this store; `meldpunt attachments move` moves the existing ones.
_default_store = "files" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "database"
MELDPUNT_ATTACHMENT_STORE = env("MELDPUNT_ATTACHMENT_STORE", _default_store).lower()
if MELDPUNT_ATTACHMENT_STORE not in {"database", "files"}:
    CONFIG_ERRORS.append(
        f"MELDPUNT_ATTACHMENT_STORE={MELDPUNT_ATTACHMENT_STORE!r} must be database or files."
    )
    MELDPUNT_ATTACHMENT_STORE = _default_store
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "attachments")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Django would spool larger uploads to a temporary file, in clear. Instead, for the
# database store, uploads are sealed piece by piece while they arrive (only ciphertext is
# spooled); for the files store they stay in memory until sealed. The request size limit
# (middleware) bounds the memory.
FILE_UPLOAD_HANDLERS = ["meldpunt.reports.attachment_store.UploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = MELDPUNT_MAX_REQUEST_BYTES
DATA_UPLOAD_MAX_MEMORY_SIZE = MELDPUNT_MAX_TEXT_CHARS * 12
DATA_UPLOAD_MAX_NUMBER_FILES = MELDPUNT_MAX_ATTACHMENTS + 1

# --- Applications -------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "meldpunt.apps.MeldpuntConfig",
    "meldpunt.reports",
    "meldpunt.policy",
    "meldpunt.intake",
    "meldpunt.portal",
    "meldpunt.accounts",
    "meldpunt.triage",
    "meldpunt.api",
    "meldpunt.audit",
    "meldpunt.advisories",
    "meldpunt.webhooks",
    "meldpunt.scope",
    "meldpunt.begbounty",
    "meldpunt.ops",
    # django-ninja's own copy of Swagger UI (its static files), for /api/v1/docs: no CDN.
    "ninja",
    # Django's tasks API (as in Django 6) with its queue in the database.
    "django_tasks",
    "django_tasks_db",
]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Tables whose commits leave the data version alone (meldpunt/lib/changes.py): written all
# the time, and read by no answer the inbox keeps (meldpunt/lib/snapshots.py). Not a knob:
# an answer kept over one of these would not see it change.
MELDPUNT_UNVERSIONED_TABLES = frozenset(
    {
        "ops_heartbeat",  # the worker's, fetchmail's and smtpd's heartbeats
        "django_session",
        "accounts_staffsession",  # "last seen"
        "meldpunt_ratelimitbucket",
        "audit_auditentry",  # every report read is audited
        "audit_audithead",
        "webhooks_delivery",  # the worker's attempts
        "webhooks_attempt",
    }
)
MELDPUNT_UNVERSIONED_PREFIXES = ("django_tasks",)  # the task queue the worker polls
# The tables the inbox's kept look-ups read (meldpunt/lib/changes.py): their writes move the
# look-ups' own version as well, so a report written leaves the look-ups kept. A look-up that
# reads any other table is kept under the data version (meldpunt/lib/snapshots.py checks).
# The tags' links are among them: only tagging writes them (and a report's deletion, which
# the trigger sees as well), so the rows' tags are not read again after each new report.
# The API's tokens are among them (meldpunt/api/tokens.py keeps a token's look-up): their
# "last used" time is written at most once a minute per token, which moves both versions.
MELDPUNT_LOOKUP_TABLES = frozenset(
    {
        "api_apitoken",
        "reports_tag",
        "reports_report_tags",
        "reports_savedview",
        "auth_user",
        "accounts_staffprofile",
    }
)

MIDDLEWARE = [
    # First, so that the time it measures includes every other middleware.
    "meldpunt.monitoring.requests.RequestMetrics",
    "django.middleware.security.SecurityMiddleware",
    "meldpunt.lib.middleware.security_headers",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "meldpunt.lib.middleware.request_size_limit",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "meldpunt.lib.middleware.DatabaseUnavailable",
]

ROOT_URLCONF = "meldpunt.urls"
WSGI_APPLICATION = "meldpunt.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "meldpunt.public.context.organisation",
                "meldpunt.triage.context.mail_sink",
            ],
            # Every audience's pages print <time datetime>: one filter, no {% load %} each.
            "builtins": ["meldpunt.lib.templatetags.html_time"],
        },
    },
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Sessions, cookies, headers -------------------------------------------
_https = MELDPUNT_BASE_URL.startswith("https://")
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_NAME = "meldpunt_session"
SESSION_COOKIE_AGE = MELDPUNT_STATUS_SESSION_MINUTES * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = _https
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# "same-origin", not "no-referrer": under no-referrer browsers send `Origin: null` with
# form posts, which Django's CSRF origin check (rightly) refuses. Other origins still
# receive no referrer at all.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = 31536000 if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
# "preload" in the header only makes the site eligible; submitting it is a separate step.
SECURE_HSTS_PRELOAD = _https and env_bool("MELDPUNT_HSTS_PRELOAD", True)
# `meldpunt serve` speaks plain HTTP: with an https:// base URL a TLS proxy is in front.
# Only when that proxy is trusted to say which scheme the client used can Meldpunt redirect
# plain HTTP itself, so that is the default then. Otherwise the proxy must redirect (the
# README's deployment section says how), and Django's reminder W008 is answered by it.
SECURE_SSL_REDIRECT = _https and env_bool("MELDPUNT_SSL_REDIRECT", MELDPUNT_TRUSTED_PROXIES > 0)
if MELDPUNT_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A load balancer's probe talks plain HTTP to `meldpunt serve` itself, without the proxy's
# X-Forwarded-Proto: a redirect would read as "down". The bare answers hold nothing secret;
# a token sent over plain HTTP is the operator's choice (docs/monitoring.md). /metrics
# is not exempt: scrape it through the TLS front, or with the redirect off.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT or not _https else ["security.W008"]

# --- Logging: ids and events only, never request bodies, codes or addresses ----
LOG_LEVEL = env("MELDPUNT_LOG_LEVEL", "INFO").upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # django.request would log the path and, for some errors, request details.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security.DisallowedHost": {"handlers": [], "propagate": False},
    },
}
