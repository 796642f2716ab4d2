"""Reports and what hangs off them.

Workflow fields (state, dates, category) stay in clear so lists and metrics are
fast; everything the finder wrote and everything that identifies them is sealed
with `meldpunt.lib.crypto`, bound to the row's `uid` and the field name.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, tzinfo

from django.conf import settings
from django.db import models
from django.db.models import Case, F, OrderBy, Q, Value, When
from django.utils import timezone

from meldpunt.lib.sealed import Sealed


class State(models.TextChoices):
    RECEIVED = "received"
    NEEDS_INFO = "needs_info"
    TRIAGED = "triaged"
    FIX_IN_PROGRESS = "fix_in_progress"
    FIXED = "fixed"
    PUBLISHED = "published"
    CLOSED = "closed"


def open_states() -> list[str]:
    """Every state but closed. Filter with `state IN (these)`, never `NOT state = closed`:
    only the former can use the (state, response_due_at) index (bench/README.md)."""
    return [s.value for s in State if s != State.CLOSED]


# The team owes the finder progress updates ("at least every N days while the problem is
# open") until the report is published or closed: after the fix comes the publication, in
# which the policy promises to involve them. Reminders run in these states too.
UPDATE_STATES = (
    State.RECEIVED,
    State.NEEDS_INFO,
    State.TRIAGED,
    State.FIX_IN_PROGRESS,
    State.FIXED,
)
# A fix date can only be missed once it was set (with the assessment) and until the fix.
FIX_STATES = (State.TRIAGED, State.FIX_IN_PROGRESS)


def overdue(now: datetime) -> Q:
    """Open, no first response yet, and the promised response date has passed."""
    return Q(state__in=open_states(), first_response_at__isnull=True, response_due_at__lt=now)


def queue_order() -> tuple[OrderBy, ...]:
    """The order open reports are worked in: real ones before those labelled "likely low
    value" (their clock still runs), then those waiting for a first response by the nearest
    response date, then by expected fix date, oldest first.

    The partial index `reports_queue_idx` holds exactly these expressions for open reports, so
    a page of the inbox reads its 50 index entries instead of sorting every open report
    (bench/README.md). PostgreSQL sorts NULLs last in ascending order, as the index does."""
    waiting = Q(first_response_at__isnull=True, state__in=open_states())
    return (
        Case(When(low_value_rule="", then=Value(0)), default=Value(1)).asc(),
        Case(When(waiting, then=F("response_due_at"))).asc(nulls_last=True),
        F("expected_fix_date").asc(nulls_last=True),
        F("created_at").asc(),
        F("id").asc(),
    )


class Resolution(models.TextChoices):
    """Why a report was closed."""

    RESOLVED = "resolved"
    INVALID = "invalid"
    OUT_OF_SCOPE = "out_of_scope"
    DUPLICATE = "duplicate"
    INFORMATIVE = "informative"
    SPAM = "spam"
    WITHDRAWN = "withdrawn"


class Severity(models.TextChoices):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Channel(models.TextChoices):
    WEB = "web"
    EMAIL = "email"


class Credit(models.TextChoices):
    NAME = "name"
    PSEUDONYM = "pseudonym"
    NONE = "none"


REFERENCE = re.compile(r"MP-(\d{4})-(\d{4,})")


class ReportQuerySet(models.QuerySet["Report"]):
    def by_reference(self, reference: str) -> Report | None:
        """The report with this public reference, or None."""
        match = REFERENCE.fullmatch(reference.strip().upper())
        if not match:
            return None
        report = self.filter(pk=int(match[2])).first()
        if report is None or timezone.localtime(report.created_at).year != int(match[1]):
            return None
        return report


class Report(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField()
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RECEIVED)
    category = models.CharField(max_length=40)
    out_of_scope = models.BooleanField(default=False)
    language = models.CharField(max_length=8)
    policy_version = models.ForeignKey("policy.PolicyVersion", on_delete=models.PROTECT)
    credit = models.CharField(max_length=10, choices=Credit.choices, default=Credit.NONE)
    response_due_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    expected_fix_date = models.DateField(null=True, blank=True)
    finder_disclosure_date = models.DateField(null=True, blank=True)
    has_contact = models.BooleanField(default=False)
    has_pgp_key = models.BooleanField(default=False)
    # Mail only: did the first mail arrive OpenPGP-encrypted? (None for web reports.)
    received_encrypted = models.BooleanField(null=True, blank=True)

    # The team's workflow and assessment facts: in clear, so lists, filters and metrics are
    # fast (the affected asset, which names a system, is sealed in `assessment` below).
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_reports",
        # No index of its own: reports_assignee_state_idx (assignee, state, id) below serves
        # every look-up by assignee, and the counts by it from the index alone.
        db_index=False,
    )
    valid = models.BooleanField(null=True, blank=True)
    in_scope = models.BooleanField(null=True, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    cvss31_vector = models.CharField(max_length=200, blank=True)
    cvss31_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    cvss40_vector = models.CharField(max_length=300, blank=True)
    cvss40_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    cwe = models.CharField(max_length=20, blank=True)
    # SSVC (meldpunt.reports.ssvc): the team's answers to the decision points, as slugs of
    # CERT/CC's value names, and the decision the table gives once all four are answered,
    # with the table's name and version ("CISA Coordinator 2.0.3") it came from.
    ssvc_exploitation = models.CharField(max_length=20, blank=True)
    ssvc_automatable = models.CharField(max_length=20, blank=True)
    ssvc_technical_impact = models.CharField(max_length=20, blank=True)
    ssvc_mission_impact = models.CharField(max_length=20, blank=True)
    ssvc_decision = models.CharField(max_length=20, blank=True)
    ssvc_tree = models.CharField(max_length=100, blank=True)
    assessed_at = models.DateTimeField(null=True, blank=True)
    # Triage aids (issue 20), set on intake by their own apps, in clear: workflow facts only.
    # What the scope inventory says of the systems the report names (meldpunt.scope):
    # in_scope, out_of_scope, third_party or unknown; "" while not checked.
    scope_verdict = models.CharField(max_length=12, blank=True, default="")
    # The "likely low value" rule that matched (meldpunt.begbounty), "" when none did.
    low_value_rule = models.CharField(max_length=60, blank=True, default="")
    # Retention: the clock starts when the report is published or closed (reopening stops
    # it); a legal hold keeps everything. The purge leaves these workflow facts in place.
    retention_from = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    attachments_purged_at = models.DateTimeField(null=True, blank=True)
    contact_purged_at = models.DateTimeField(null=True, blank=True)
    # Set with the first response: was it sent by response_due_at, as the policy promises?
    first_response_kept = models.BooleanField(null=True, blank=True)
    # When the finder last opened their status page ("finder not reached" without e-mail).
    finder_seen_at = models.DateTimeField(null=True, blank=True)
    # Keyed hashes (HMAC with the key file's index key), never the secrets themselves.
    receipt_digest = models.BinaryField(max_length=32, unique=True)
    submission_digest = models.BinaryField(max_length=32, unique=True, null=True)

    content_blob = models.BinaryField()
    finder_blob = models.BinaryField()
    # The team's words in the assessment (the affected asset): a dump must not name the
    # system with an unpatched weakness. Nothing filters on it, so it has no blind index.
    assessment_blob = models.BinaryField(default=b"")
    content = Sealed("content_blob")
    finder = Sealed("finder_blob")
    assessment = Sealed("assessment_blob")
    tags: models.ManyToManyField[Tag, Tag] = models.ManyToManyField(
        "Tag", blank=True, related_name="reports"
    )

    objects = ReportQuerySet.as_manager()

    class Meta:
        indexes = [
            # The API's list by response deadline with its cursor's tie-break (the id): for
            # one state, and for every state (without the latter a million reports are
            # sorted for each page: bench/README.md).
            models.Index(
                fields=["state", "response_due_at", "id"], name="reports_state_due_id_idx"
            ),
            models.Index(fields=["response_due_at", "id"], name="reports_due_id_idx"),
            # The filters' indexes end in the id: the inbox menu's counts (saved views by
            # assignee, severity or decision among the open states) then read the index
            # alone, not a table page per report (bench/README.md).
            models.Index(fields=["assignee", "state", "id"], name="reports_assignee_state_idx"),
            models.Index(fields=["severity", "state", "id"], name="reports_severity_state_idx"),
            models.Index(fields=["ssvc_decision", "state", "id"], name="reports_ssvc_state_idx"),
            models.Index(fields=["retention_from"]),
            # The inbox's order (queue_order), for open reports only. Written without NULLS
            # LAST, which SQLite's CREATE INDEX does not take; PostgreSQL's ascending order
            # puts NULLs last anyway, so the query's ORDER BY matches it there.
            models.Index(
                *(o.expression for o in queue_order()),
                name="reports_queue_idx",
                condition=Q(state__in=open_states()),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def is_overdue(self, now: datetime) -> bool:
        """The Python twin of `overdue(now)`, for one report already loaded."""
        return is_overdue(self.state, self.first_response_at, self.response_due_at, now)

    @property
    def affected_asset(self) -> str:
        return str(self.assessment.get("affected_asset", ""))

    @affected_asset.setter
    def affected_asset(self, value: str) -> None:
        self.assessment = {**self.assessment, "affected_asset": value}

    @property
    def reference(self) -> str:
        return reference_of(self.created_at, self.pk)


def reference_of(created_at: datetime, pk: int, zone: tzinfo | None = None) -> str:
    """MP-<year received>-<serial>: the serial is the row id, so taking one needs no lock.
    (Report.reference; this for a row read as values.) The year is the site's time zone's,
    `zone` when the caller, making many, has looked that up already."""
    return f"MP-{timezone.localtime(created_at, zone).year}-{pk:04d}"


def is_overdue(
    state: str, first_response_at: datetime | None, response_due_at: datetime, now: datetime
) -> bool:
    """The Python twin of `overdue(now)`, for a report already read (Report.is_overdue)."""
    return state != State.CLOSED and first_response_at is None and response_due_at < now


class TagColour(models.TextChoices):
    """A fixed palette: each colour carries white text at a contrast of at least 4.5:1
    (WCAG AA), and the chip names the tag too, so colour is never the only sign."""

    BLUE = "blue"
    GREEN = "green"
    RED = "red"
    PURPLE = "purple"
    ORANGE = "orange"
    TEAL = "teal"
    PINK = "pink"
    GREY = "grey"


class Tag(models.Model):
    """A label the admins define and the team puts on reports. The team's words: in clear."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=40, unique=True)
    colour = models.CharField(max_length=10, choices=TagColour.choices, default=TagColour.BLUE)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A named set of the inbox's filters (its query string), for its owner or the team.

    Filters only name states, tags, staff and search terms the team typed: no report content.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    shared = models.BooleanField(default=False)
    query = models.CharField(max_length=2000, blank=True)  # without the leading "?"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class AffectedHost(models.Model):
    """Blind index of a report's affected hosts: finds reports by host without storing it."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="hosts")
    digest = models.BinaryField(max_length=32, db_index=True)

    def __str__(self) -> str:
        return f"host of {self.report_id}"


class Event(models.Model):
    """Append-only history. `data` holds workflow facts only, never report text."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=40)
    actor = models.CharField(max_length=80)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor}"


class Message(models.Model):
    class Author(models.TextChoices):
        FINDER = "finder"
        STAFF = "staff"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="messages")
    created_at = models.DateTimeField()
    author = models.CharField(max_length=10, choices=Author.choices)
    # For team messages: who sent it, and whether it was the first response with an assessment.
    staff_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    is_first_response = models.BooleanField(default=False)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    # Mail only: was it encrypted to us? (Signature results live in the sealed body.)
    received_encrypted = models.BooleanField(null=True, blank=True)
    body_blob = models.BinaryField()
    body = Sealed("body_blob")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"message {self.uid}"


class Note(models.Model):
    """An internal note of the team; never shown to the finder."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField()
    body_blob = models.BinaryField()
    body = Sealed("body_blob")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.uid}"


class Attachment(models.Model):
    """An uploaded file, sealed on disk; its name and type are sealed in the database."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    created_at = models.DateTimeField()
    size = models.PositiveBigIntegerField()
    # The file's name in the data directory; also kept for one stored in the database, so
    # moving it back to files (meldpunt attachments move) has its name ready.
    storage_name = models.CharField(max_length=100, unique=True)
    # True: the sealed data is in AttachmentChunk rows, not in a file (settings'
    # MELDPUNT_ATTACHMENT_STORE chose where a new one goes; old ones stay where they are).
    in_database = models.BooleanField(default=False)
    meta_blob = models.BinaryField()
    meta = Sealed("meta_blob")

    def __str__(self) -> str:
        return f"attachment {self.uid}"

    def new_storage_name(self) -> str:
        # Two hex digits of fan-out keep directories small at a million files.
        return f"{self.uid.hex[:2]}/{self.uid.hex}"

    @property
    def data_aad(self) -> str:
        return f"{self._meta.label_lower}:{self.uid}:data"


class AttachmentChunk(models.Model):
    """One sealed piece of an attachment stored in the database (see reports.attachment_store).

    Each piece is sealed on its own, bound to the attachment, its index and whether it is
    the last, so pieces cannot be re-ordered, dropped from the end or swapped between files.
    """

    attachment = models.ForeignKey(Attachment, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    blob = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attachment", "index"], name="attachment_chunk_once")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.attachment_id}"


class Reminder(models.Model):
    """A reminder or escalation that was sent; the unique key makes sending it idempotent."""

    class Kind(models.TextChoices):
        RESPONSE_SOON = "response_soon"  # to the assignee, before the first-response deadline
        RESPONSE_OVERDUE = "response_overdue"  # to the admins, after it
        UPDATE_DUE = "update_due"  # to the assignee: the finder is owed a progress update
        FIX_OVERDUE = "fix_overdue"  # to the assignee and admins: the expected fix date passed
        NOT_REACHED = "finder_not_reached"  # to the assignee: our news did not reach the finder
        # The legal reporting clocks (a step to an authority): soon to the assignee, overdue
        # to the assignee and admins; one kind per regime, as both clocks may share a due time.
        CRA_SOON = "cra_soon"
        CRA_OVERDUE = "cra_overdue"
        NIS2_SOON = "nis2_soon"
        NIS2_OVERDUE = "nis2_overdue"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The deadline this reminder is about: a moved deadline gets its own reminder.
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "kind", "due_at"], name="reminder_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.report_id}"


class OutboundMail(models.Model):
    """One mail in the outbox: built and sealed when queued, sent by the worker with retries.

    The Message-ID is fixed when the mail is queued, so every attempt and a resend by staff
    send the same message and replies thread back to the report by it; a crash while it is
    handed over makes it UNKNOWN, never a second send (see `meldpunt.reports.outbox`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # waiting for its first attempt
        DEFERRED = "deferred"  # an attempt failed for a reason that may pass: tried again
        SENT = "sent"  # our mail server accepted it
        FAILED = "failed"  # refused for good, out of attempts, or could not be built
        BOUNCED = "bounced"  # accepted, then a delivery status notification said it failed
        UNKNOWN = "unknown"  # the worker stopped while handing it over: never sent again
        CANCELLED = "cancelled"  # staff stopped it before it went out

    # States in which the worker still sends the mail.
    PENDING = (Status.QUEUED, Status.DEFERRED)
    # States in which the worker will not send the mail again by itself, and it did not (or
    # may not have) reached the finder.
    LOST = (Status.FAILED, Status.BOUNCED, Status.UNKNOWN)
    # States in which the finder did not (or may not) get the mail: lost, or still trying.
    UNDELIVERED = (Status.DEFERRED, *LOST)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound_mails"
    )
    # The staff message this mail carries the news of, if any (thread display, ledger).
    thread_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="mails"
    )
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=20)
    message_id = models.CharField(max_length=250, unique=True)
    encrypted = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker starts handing the mail to the server, cleared when it records the
    # outcome: a mail found with it set after its lease ran out may have been delivered.
    handover_at = models.DateTimeField(null=True, blank=True)
    # The error's class name (and SMTP code) only: server texts can quote the address.
    last_error = models.CharField(max_length=200, blank=True)
    # A delivery status notification or non-delivery answer that came back for this mail:
    # when, and its status code / action (e.g. "5.1.1 failed"), never the address.
    bounced_at = models.DateTimeField(null=True, blank=True)
    bounce_detail = models.CharField(max_length=200, blank=True)
    # An automatic answer (RFC 3834: out of office, vacation) that came back for it.
    auto_replied_at = models.DateTimeField(null=True, blank=True)
    # {"to": [addresses], "raw": base64 of the complete message}: addresses are personal data.
    envelope_blob = models.BinaryField()
    envelope = Sealed("envelope_blob")

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["report", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id}"


class Promise(models.Model):
    """One promise of the policy to one report's finder, as the ledger last evaluated it.

    Derived data: `meldpunt.reports.promises` recomputes it from the report's events,
    messages and mails after every event and in the worker's periodic pass, so the inbox
    can filter on it in the database. Evidence holds facts only (event ids, kinds, times,
    mail states), never report text.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        KEPT = "kept"
        AT_RISK = "at_risk"
        BROKEN = "broken"
        NOT_APPLICABLE = "not_applicable"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="promises")
    kind = models.CharField(max_length=40)
    state = models.CharField(max_length=20, choices=State.choices)
    due_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    evidence = models.JSONField(default=dict)
    evaluated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "kind"], name="one_promise_per_kind")
        ]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.report_id}: {self.state}"
