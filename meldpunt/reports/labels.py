"""Translated names of states, severities, resolutions, credit choices, events and their details.

The one place these names live: the staff desk, the finder's pages, the public pages and
the mails all read them from here, so adding a state or an event is one line here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from meldpunt.audit.labels import ACTION_LABELS
from meldpunt.reports.models import (
    Channel,
    Credit,
    OutboundMail,
    Promise,
    Resolution,
    Severity,
    State,
    TagColour,
)

STATE_LABELS: dict[str, Any] = {
    # "Received" is also a date label ("received on"); the state needs its own word.
    State.RECEIVED: pgettext_lazy("report state", "Received"),
    State.NEEDS_INFO: _("Needs information"),
    State.TRIAGED: _("Triaged"),
    State.FIX_IN_PROGRESS: _("Fix in progress"),
    State.FIXED: _("Fixed"),
    State.PUBLISHED: _("Published"),
    State.CLOSED: _("Closed"),
}
SEVERITY_LABELS: dict[str, Any] = {
    Severity.NONE: _("None"),
    Severity.LOW: _("Low"),
    Severity.MEDIUM: _("Medium"),
    Severity.HIGH: _("High"),
    Severity.CRITICAL: _("Critical"),
}
RESOLUTION_LABELS: dict[str, Any] = {
    Resolution.RESOLVED: _("Resolved"),
    Resolution.INVALID: _("Invalid"),
    Resolution.OUT_OF_SCOPE: _("Out of scope"),
    Resolution.DUPLICATE: _("Duplicate"),
    Resolution.INFORMATIVE: _("Informative"),
    Resolution.SPAM: _("Spam"),
    Resolution.WITHDRAWN: _("Withdrawn"),
}

CREDIT_LABELS: dict[str, Any] = {
    Credit.NAME: _("By name"),
    Credit.PSEUDONYM: _("By pseudonym"),
    Credit.NONE: _("No credit"),
}
# A mail's delivery state, as staff read it next to the message and in the outbox.
DELIVERY_LABELS: dict[str, Any] = {
    OutboundMail.Status.QUEUED: pgettext_lazy("mail state", "Queued"),
    OutboundMail.Status.DEFERRED: pgettext_lazy("mail state", "Deferred"),
    OutboundMail.Status.SENT: pgettext_lazy("mail state", "Sent"),
    OutboundMail.Status.FAILED: pgettext_lazy("mail state", "Failed"),
    OutboundMail.Status.BOUNCED: pgettext_lazy("mail state", "Bounced"),
    OutboundMail.Status.UNKNOWN: pgettext_lazy("mail state", "Unknown"),
    OutboundMail.Status.CANCELLED: pgettext_lazy("mail state", "Cancelled"),
}
MAIL_KIND_LABELS: dict[str, Any] = {
    "news": _("News for the finder"),
    "receipt": _("Receipt for a mailed report"),
}
EVENT_LABELS: dict[str, Any] = {
    "received": _("Report received"),
    "message": _("Message"),
    "credit_changed": _("Credit preference changed"),
    "finder_name_changed": _("Finder's name changed"),
    "note_added": _("Internal note added"),
    "attachment_downloaded": _("Attachment downloaded"),
    "state_changed": _("State changed"),
    "reopened": _("Reopened"),
    "assessed": _("Assessed"),
    "message_sent": _("Message sent to the finder"),
    "mail_bounced": _("Mail to the finder bounced"),
    "mail_auto_replied": _("Automatic reply to our mail (e.g. out of office)"),
    "duplicate_linked": _("Linked as duplicate"),
    "duplicate_unlinked": _("Duplicate link removed"),
    "deletion_reminder_sent": _("Finder reminded to delete obtained data"),
    "finder_export": _("Finder downloaded their data"),
    "finder_data_erased": _("Finder erased their contact data"),
    "attachments_purged": _("Attachments purged (retention)"),
    "contact_data_purged": _("Contact data purged (retention)"),
    "legal_hold_set": _("Legal hold set"),
    "legal_hold_lifted": _("Legal hold lifted"),
    "advisory_drafted": _("Advisory drafted"),
    "advisory_report_added": _("Added to an advisory"),
    "advisory_updated": _("Advisory draft changed"),
    "advisory_scheduled": _("Advisory scheduled"),
    "advisory_unscheduled": _("Advisory taken off the schedule"),
    "advisory_published": _("Advisory published"),
    "advisory_published_early": _("Advisory published before the promised date"),
    "advisory_scheduled_early": _("Advisory scheduled before the date a finder approved"),
    "advisory_publication_refused": _("Advisory publication refused"),
    "advisory_reviewed": _("Finder answered the advisory draft"),
    "mail_failed": _("Mail to the finder failed"),
    "mail_unknown": _("Mail to the finder may not have arrived"),
    "mail_resent": _("Mail to the finder queued again"),
    "mail_cancelled": _("Mail to the finder cancelled"),
    "tag_added": _("Tag added"),
    "tag_removed": _("Tag removed"),
    "scope_checked": _("Scope checked against the inventory"),
    "low_value_cleared": _("Label “likely low value” taken back"),
    "regulatory_flags_changed": _("Legal reporting flags changed"),
    "regulatory_report_sent": _("Report to an authority recorded as sent"),
}
# The scope inventory's verdict on a report (Report.scope_verdict; meldpunt.scope), and the
# inbox's "unchecked" for "" (received while the inventory was empty).
SCOPE_VERDICT_LABELS: dict[str, Any] = {
    "in_scope": _("In scope"),
    "out_of_scope": _("Out of scope"),
    "third_party": _("Third party"),
    "unknown": _("Not in the inventory"),
}
SCOPE_CHECK_LABELS: dict[str, Any] = {**SCOPE_VERDICT_LABELS, "unchecked": _("Not checked")}

# The promise ledger (meldpunt.reports.promises), as the team reads it.
PROMISE_LABELS: dict[str, Any] = {
    "first_response": _("First response with assessment and fix date"),
    "progress_updates": _("Progress updates"),
    "fix_date": _("Fix by the expected date"),
    "credit": _("Credit as the finder chose"),
    "publication_involvement": _("Finder involved before publication"),
    "data_deletion": _("Reminder to delete obtained data"),
    # The legal reporting clocks (meldpunt.reports.reporting_clocks): to authorities.
    "cra_early_warning": _("CRA early warning (24 h)"),
    "cra_notification": _("CRA vulnerability notification (72 h)"),
    "cra_final_report": _("CRA final report (14 days after the fix)"),
    "nis2_early_warning": _("NIS2 early warning (24 h)"),
    "nis2_notification": _("NIS2 incident notification (72 h)"),
    "nis2_final_report": _("NIS2 final report (one month)"),
}
# How a report went to an authority (recorded by hand; Meldpunt never calls one).
SUBMISSION_LABELS: dict[str, Any] = {
    "enisa_srp": _("ENISA single reporting platform"),
    "ccb_form": _("CCB notification form"),
    "email": _("E-mail"),
    "other": _("Other"),
}
PROMISE_STATE_LABELS: dict[str, Any] = {
    Promise.State.PENDING: _("Pending"),
    Promise.State.KEPT: _("Kept"),
    Promise.State.AT_RISK: _("At risk"),
    Promise.State.BROKEN: _("Broken"),
    Promise.State.NOT_APPLICABLE: _("Not applicable"),
}
# Why a finder was not reached (meldpunt.reports.reach); "unread" has its own sentence.
NOT_REACHED_LABELS: dict[str, Any] = {
    OutboundMail.Status.DEFERRED: _("mail deferred"),
    OutboundMail.Status.FAILED: _("mail failed"),
    OutboundMail.Status.BOUNCED: _("mail bounced"),
    OutboundMail.Status.UNKNOWN: _("mail state unknown"),
}


def delivery_label(value: str) -> str:
    return str(DELIVERY_LABELS.get(value) or value)


def mail_kind_label(value: str) -> str:
    return str(MAIL_KIND_LABELS.get(value) or value)


# The team's assessment fields, named as the assessment form labels them (the form uses these).
ASSESSMENT_LABELS: dict[str, Any] = {
    "valid": _("Validity"),
    "in_scope": _("Scope"),
    "severity": _("Severity"),
    "cvss31_vector": _("CVSS 3.1 vector"),
    "cvss40_vector": _("CVSS 4.0 vector"),
    "cwe": _("Weakness (CWE)"),
    "affected_asset": _("Affected asset"),
    "assignee": _("Assigned to"),
    "expected_fix_date": _("Expected fix date"),
    "ssvc_exploitation": _("Exploitation"),
    "ssvc_automatable": _("Automatable"),
    "ssvc_technical_impact": _("Technical impact"),
    "ssvc_mission_impact": _("Mission and well-being impact"),
    "ssvc_decision": _("SSVC decision"),
    "ssvc_tree": _("SSVC decision table"),
}
TAG_COLOUR_LABELS: dict[str, Any] = {
    TagColour.BLUE: _("Blue"),
    TagColour.GREEN: _("Green"),
    TagColour.RED: _("Red"),
    TagColour.PURPLE: _("Purple"),
    TagColour.ORANGE: _("Orange"),
    TagColour.TEAL: _("Teal"),
    TagColour.PINK: _("Pink"),
    TagColour.GREY: _("Grey"),
}
CHANNEL_LABELS: dict[str, Any] = {Channel.WEB: _("Web form"), Channel.EMAIL: _("E-mail")}
# What an event's `data` holds, by key. Keys naming a row's uid (note, message, attachment)
# mean nothing to a reader and are left out of the history; the audit log keeps them.
EVENT_DETAIL_LABELS: dict[str, Any] = {
    **ASSESSMENT_LABELS,
    "fields": _("Changed fields"),
    "from": _("Previous state"),
    "to": _("New state"),
    "resolution": _("Resolution"),
    "previous_resolution": _("Previous resolution"),
    "duplicate_of": _("Duplicate of report"),
    "previous_duplicate_of": _("Previously a duplicate of"),
    "duplicate": _("Duplicate"),
    "channel": _("Channel"),
    "attachments": _("Attachments"),
    "count": _("Files"),
    "credit": _("Credit"),
    "advisory": _("Advisory"),
    "publish_at": _("Publication date"),
    "promised_at": _("Promised date"),
    "reason": _("Reason"),
    "revision": _("Revision"),
    "review_skipped": _("Review skipped"),
    "credits_withdrawn": _("Credits withdrawn"),
    "messages": _("Validator messages"),
    "decision": _("Decision"),
    "version": _("Draft version"),
    "template": _("Template"),
    "tag": _("Tag"),
    "bulk": _("Bulk action"),
    "verdict": _("Scope inventory says"),
    "previous_verdict": _("Before"),
    "exploited": _("Actively exploited"),
    "exploited_aware_at": _("Aware of the exploitation since"),
    "nis2_incident": _("Significant incident (NIS2)"),
    "nis2_aware_at": _("Aware of the incident since"),
    "fix_available_at": _("Corrective measure available since"),
    "member_states": _("Member states affected"),
    "step": _("Reporting step"),
    "sent_at": _("Sent"),
    "submitted_via": _("Submitted via"),
    "reference": _("Authority's reference"),
}
HIDDEN_DETAILS = frozenset({"note", "message", "attachment"})
_CODED: dict[str, dict[str, Any]] = {
    "from": STATE_LABELS,
    "to": STATE_LABELS,
    "resolution": RESOLUTION_LABELS,
    "previous_resolution": RESOLUTION_LABELS,
    "severity": SEVERITY_LABELS,
    "credit": CREDIT_LABELS,
    "channel": CHANNEL_LABELS,
    "verdict": SCOPE_VERDICT_LABELS,
    "previous_verdict": SCOPE_VERDICT_LABELS,
    "step": PROMISE_LABELS,
    "submitted_via": SUBMISSION_LABELS,
}
_DATES = frozenset(
    {
        "expected_fix_date",
        "publish_at",
        "promised_at",
        "exploited_aware_at",
        "nis2_aware_at",
        "fix_available_at",
        "sent_at",
    }
)


def event_details(data: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's facts as (label, value) pairs in the reader's language; empty ones left out."""
    pairs = []
    for key, value in data.items():
        if key in HIDDEN_DETAILS or value in ("", None, []):
            continue
        pairs.append((str(EVENT_DETAIL_LABELS.get(key, key)), detail_value(key, value)))
    return pairs


def detail_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if key == "fields" and isinstance(value, list):
        return ", ".join(str(ASSESSMENT_LABELS.get(str(v), v)) for v in value)
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if key in _CODED:
        return str(_CODED[key].get(value, value))
    if key in _DATES and isinstance(value, str):
        return _when(value)
    return str(value)


def _when(text: str) -> str:
    """An ISO date or date-time, in the reader's format (and the site's time zone)."""
    try:
        if len(text) == 10:
            return str(formats.date_format(date.fromisoformat(text), "DATE_FORMAT"))
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return str(formats.date_format(moment, "DATETIME_FORMAT"))


def audit_action_label(code: str) -> Any:
    """The name of an audit log action: a report event's kind or one of the log's own."""
    return EVENT_LABELS.get(code) or ACTION_LABELS.get(code) or code


def label(value: str) -> str:
    """The translated name of a state or resolution code (the code itself if unknown)."""
    return str(STATE_LABELS.get(value) or RESOLUTION_LABELS.get(value) or value)


# CISA's decisions keep their English names (SSVC's terms); the team reads what they mean.
SSVC_EXPLANATIONS: dict[str, Any] = {
    "track": _(
        "No action needed now: keep tracking it and reassess on new information; "
        "remediate within standard update timelines."
    ),
    "track_star": _(
        "Has characteristics that need closer monitoring for changes; "
        "remediate within standard update timelines."
    ),
    "attend": _(
        "Needs attention from supervisory-level staff, perhaps a notification; "
        "remediate sooner than standard update timelines."
    ),
    "act": _(
        "Needs attention from supervisory and leadership levels and a notification; "
        "remediate as soon as possible."
    ),
}
