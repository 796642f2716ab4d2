from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from meldpunt.lib.sealed import Sealed

M = TypeVar("M", bound=models.Model)


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")  # configuration, staff, keys
    TRIAGER = "triager", _("Triager")  # works reports
    VIEWER = "viewer", _("Viewer")  # reads only


# Who may change a report (assess, message, move it, draft advisories); viewers only read.
# Also who a report can be assigned to and who is reminded of its deadlines.
REPORT_CHANGERS = frozenset({Role.ADMIN, Role.TRIAGER})


class StaffProfile(models.Model):
    """What Meldpunt knows about a staff account beyond Django's user: role and second factor."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    totp_confirmed = models.BooleanField(default=False)
    # The last TOTP time step accepted: a code is never accepted twice (no replay).
    last_totp_step = models.BigIntegerField(default=0)
    totp_blob = models.BinaryField(default=b"")
    totp = Sealed("totp_blob")

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


# The second factor's secret and its replay guard: never kept in a process's memory between
# requests with the rest of a profile (meldpunt/lib/snapshots.py), nor with a user the
# password's hash.
SECRET_FIELDS = frozenset({"totp_blob", "last_totp_step", "password"})


def kept_columns(model: type[models.Model]) -> tuple[str, ...]:
    """A model's columns but SECRET_FIELDS: what a kept look-up of it may read."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.name not in SECRET_FIELDS)


def kept_instance(model: type[M], values: Sequence[Any]) -> M:
    """A new instance of a row read by kept_columns(model), its secrets left deferred (read
    from the database if asked for): each request gets its own."""
    return model.from_db(model._default_manager.db, list(kept_columns(model)), values)


class RecoveryCode(models.Model):
    """A single-use code for when the authenticator is lost; only its keyed hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.BinaryField(max_length=32, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class StaffSession(models.Model):
    """A signed-in staff session, so that staff can see and end them (account life cycle).

    The session key itself stays in Django's session table: a hash here names it without
    letting a reader of this table take the session over. No client address is kept (the
    policy promises none is stored); the device is a coarse browser and system name.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_sessions"
    )
    key_digest = models.CharField(max_length=64, unique=True)
    browser = models.CharField(max_length=20)
    system = models.CharField(max_length=20)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"session {self.uid} of {self.user_id}"


class InactiveNotice(models.Model):
    """Admins were told this account was not used since `since`; the unique key makes it once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inactive_notices"
    )
    # The last sign-in (or the creation) the notice is about: a later one is a new period.
    since = models.DateTimeField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "since"], name="inactive_notice_once")
        ]

    def __str__(self) -> str:
        return f"inactive notice for {self.user_id}"


class OidcIdentity(models.Model):
    """The identity provider's user (issuer and `sub`) a staff account signs in as."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    # Deactivated because the groups no longer map to a role: back in a group, active again.
    # An account an admin deactivated stays so, whatever the groups say.
    deprovisioned = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")
        ]

    def __str__(self) -> str:
        return f"identity of {self.user_id}"


class Passkey(models.Model):
    """A WebAuthn credential a staff member registered as a second factor.

    Only public material is kept: the credential id and public key identify and check the
    authenticator, the sign count lets a cloned authenticator show itself.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    name = models.CharField(max_length=80)
    credential_id = models.BinaryField(max_length=1023, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set when an assertion came with a sign count that went backwards: a possible clone.
    # The passkey is refused from then on; its owner removes it and registers a new one.
    regressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"passkey {self.pk} of {self.user_id}"
