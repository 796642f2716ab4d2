"""Translated names of the audit log's own actions and of actors that are not staff.

Report events reach the log under their event kind: their names are in reports.labels,
which joins both (`audit_action_label`).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

ACTION_LABELS: dict[str, Any] = {
    "login": _("Signed in"),
    "staff_password_set": _("Staff password set from the command line"),
    "staff_second_factor_reset": _("Staff second factor reset from the command line"),
    "staff_deactivated": _("Staff account deactivated"),
    "staff_activated": _("Staff account reactivated"),
    "staff_sessions_ended": _("All sessions of a staff account ended"),
    "staff_session_ended": _("A staff member ended one of their sessions"),
    "staff_inactive_reported": _("Unused staff account reported to the administrators"),
    "low_value_rule_added": _("Low-value rule added"),
    "low_value_rule_changed": _("Low-value rule changed"),
    "logout": _("Signed out"),
    "login_failed": _("Sign-in failed"),
    "second_factor_passed": _("Second factor passed"),
    "second_factor_failed": _("Second factor failed"),
    "second_factor_enrolled": _("Second factor set up"),
    "sso_login": _("Signed in through single sign-on"),
    "sso_provisioned": _("Staff account created at first single sign-on"),
    "sso_role_changed": _("Role changed by the identity provider's groups"),
    "sso_deprovisioned": _("Staff account deactivated: no longer in a mapped group"),
    "sso_reprovisioned": _("Staff account active again: back in a mapped group"),
    "sso_refused": _("Single sign-on refused"),
    "sudo_passed": _("Password confirmed for a sensitive action"),
    "sudo_failed": _("Password confirmation failed"),
    "passkey_registered": _("Passkey registered"),
    "passkey_register_failed": _("Passkey registration refused"),
    "passkey_used": _("Passkey used"),
    "passkey_removed": _("Passkey removed"),
    "passkey_counter_regressed": _("Passkey blocked: its signature counter went backwards"),
    "report_viewed": _("Report read"),
    "template_changed": _("Message template changed"),
    "attachment_sent": _("Attachment sent to the finder"),
    "saved_view_created": _("Saved view created"),
    "saved_view_deleted": _("Saved view deleted"),
    "tag_created": _("Tag created"),
    "tag_changed": _("Tag changed"),
    "tag_deleted": _("Tag deleted"),
    "scope_asset_added": _("Asset added to the scope inventory"),
    "scope_asset_changed": _("Scope inventory asset changed"),
    "scope_asset_removed": _("Asset removed from the scope inventory"),
    "scope_imported": _("Scope inventory loaded from a file"),
    "personal_data_disclosed": _("Finder's personal data disclosed"),
    "master_key_rotated": _("Master key rotated"),
    "master_keys_retired": _("Old master keys retired"),
    "org_key_added": _("Organisation's OpenPGP key added"),
    "webhook_added": _("Webhook endpoint added"),
    "webhook_tested": _("Webhook test event sent"),
    "webhook_enabled": _("Webhook endpoint enabled again"),
    "webhook_removed": _("Webhook endpoint removed"),
    "webhook_disabled": _("Webhook endpoint disabled after repeated failures"),
    "api_token_created": _("API token created"),
    "api_token_revoked": _("API token revoked"),
}
ACTOR_LABELS: dict[str, Any] = {
    "finder": _("the finder"),
    "system": _("the system"),
    "operator": _("an operator (command line)"),
    "anonymous": _("anonymous"),
}
