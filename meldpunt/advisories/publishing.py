"""Drafting, scheduling and publishing advisories: plain functions the views and the worker call.

Which reports feed an advisory: reports in state `fixed` (the usual case) or already
`published` (a follow-up advisory, e.g. a variant found after the first one went out). An
open report is not fixed yet, and a report already in another unpublished advisory would be
announced twice, so both are refused.

The draft is prefilled only with the team's own assessment (CVSS vectors, CWE, affected
asset) and the systems the finder named; never with the finder's description or other
text, which reaches the public only if a team member writes it into the draft.

An advisory is written in one language (`language`: the report's, else the UI language
of the team member who starts it) and may carry translations of its texts into the site's
other languages (`draft["translations"]`). The finders review the draft as a whole: a
change in any language is a new draft version. One publication publishes every language
as one revision, each with its own CSAF document (the translations with `source_lang`).

Credits are computed when the advisory is previewed and again when it is published, from
each report's *current* preference: a finder who withdraws consent before publication is
not named. Every publication (the first and each revision) is validated as CSAF 2.0 before
anything is stored.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from meldpunt.advisories import csaf
from meldpunt.advisories.models import Advisory, AdvisoryRevision, FinderReview
from meldpunt.audit.actors import Actor, actor
from meldpunt.policy.commitments import category_label
from meldpunt.reports import assessment, lifecycle, outbox, ssvc
from meldpunt.reports.models import Credit, Report, State
from meldpunt.reports.services import record_event

log = logging.getLogger(__name__)

# Reports an advisory can be drafted from (see the module docstring).
SOURCE_STATES = (State.FIXED, State.PUBLISHED)
DRAFT_FIELDS = (
    "title",
    "summary",
    "products",
    "remediation",
    "cvss31_vector",
    "cvss40_vector",
    "cwe",
    "cve",
    "references",
    # Open-source packages, for the OSV document: [{"ecosystem", "name", "introduced", "fixed"}].
    "packages",
    # The report's SSVC decision in words (meldpunt.reports.ssvc.statement); "" leaves it out.
    "ssvc",
)
# The texts a translation gives in its own language; the facts (products, vectors, ...) are
# shared by all languages.
TRANSLATED_FIELDS = ("title", "summary", "remediation")
# Besides the draft, what a team member may change with update_draft.
SETTINGS_FIELDS = ("publish_at", "publish_tz", "language")
IDENTIFIER_ATTEMPTS = 5
# Why an advisory went out before the moment promised to its finders. A short choice, not
# free text: the event is stored in clear and shown to every finder of the advisory, and a
# typed reason could carry one report's details to another report's finder.
EARLY_REASONS: dict[str, Any] = {
    "exploited": gettext_lazy("The vulnerability is being exploited"),
    "public": gettext_lazy("The vulnerability was made public elsewhere"),
    "finders_agreed": gettext_lazy("The finders agreed to an earlier date"),
    "coordination": gettext_lazy("The date coordinated with other parties moved earlier"),
}


class AdvisoryError(Exception):
    """An action the advisory's state does not allow now; the message is meant for the team."""


class PublishRefused(AdvisoryError):
    """The document is not publishable; `messages` says why (validator messages included)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


# --- Identifiers ---------------------------------------------------------------------------


def _prefix(now: datetime) -> str:
    return f"{settings.MELDPUNT_ADVISORY_PREFIX}-{timezone.localtime(now).year}-"


def new_identifier(now: datetime) -> str:
    """The next free <PREFIX>-<year>-<serial>; creators retry if another took it meanwhile."""
    prefix = _prefix(now)
    taken = Advisory.objects.filter(identifier__startswith=prefix).values_list(
        "identifier", flat=True
    )
    # In Python, not ORDER BY: "-10000" sorts before "-9999" as text.
    serials = [int(m[1]) for i in taken if (m := re.fullmatch(r".*-(\d+)", i))]
    return f"{prefix}{max(serials, default=0) + 1:04d}"


def _create(user: User, now: datetime, draft: dict[str, Any], language: str) -> Advisory:
    """Insert with a fresh identifier; two team members creating at once both succeed."""
    for _attempt in range(IDENTIFIER_ATTEMPTS):
        advisory = Advisory(
            identifier=new_identifier(now),
            created_at=now,
            updated_at=now,
            created_by=user,
            language=language,  # the language the title was prefilled in
        )
        advisory.draft = draft
        try:
            with transaction.atomic():  # a savepoint: a clash leaves the outer work intact
                advisory.save()
            return advisory
        except IntegrityError:
            continue
    raise AdvisoryError(_("No advisory identifier could be taken; try again."))


# --- Drafting ------------------------------------------------------------------------------


def empty_draft() -> dict[str, Any]:
    return {
        name: [] if name in ("products", "references", "packages") else "" for name in DRAFT_FIELDS
    }


def _products_from(report: Report) -> list[dict[str, str]]:
    names = [report.affected_asset] if report.affected_asset else []
    names += [str(s) for s in report.content.get("affected_systems", [])]
    seen: dict[str, None] = dict.fromkeys(n.strip() for n in names if n.strip())
    return [{"name": name, "affected": "", "fixed": ""} for name in seen]


def site_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def draft_language(report: Report) -> str:
    """The report's language; else the UI language of whoever starts the draft; else the site's."""
    ui = (translation.get_language() or "").split("-")[0]
    for code in (report.language, ui):
        if code in site_languages():
            return code
    return str(settings.LANGUAGE_CODE)


def _prefill(report: Report, language: str) -> dict[str, Any]:
    """The team's assessment and the named systems; the finder's own text stays out."""
    draft = empty_draft()
    with translation.override(language):
        draft["title"] = str(category_label(report.category))
    draft.update(
        products=_products_from(report),
        cvss31_vector=report.cvss31_vector,
        cvss40_vector=report.cvss40_vector,
        cwe=report.cwe,
        ssvc=ssvc.statement(report),
    )
    return draft


def _check_source(report: Report, advisory: Advisory | None = None) -> None:
    if report.state not in SOURCE_STATES:
        raise AdvisoryError(
            _("An advisory is drafted from a fixed report; %(ref)s is not fixed yet.")
            % {"ref": report.reference}
        )
    others = Advisory.objects.filter(reports=report).exclude(status=Advisory.Status.PUBLISHED)
    if advisory is not None:
        others = others.exclude(pk=advisory.pk)
    if other := others.first():
        raise AdvisoryError(
            _("%(ref)s is already in advisory %(advisory)s, which is not published yet.")
            % {"ref": report.reference, "advisory": other.identifier}
        )


def _lock_report(report: Report) -> Report:
    return Report.objects.select_for_update().get(pk=report.pk)


def _lock(advisory: Advisory) -> Advisory:
    return Advisory.objects.select_for_update().get(pk=advisory.pk)


def _linked(advisory: Advisory) -> list[Report]:
    return list(advisory.reports.order_by("created_at", "pk"))


def _tell_finders(advisory: Advisory, kind: str, by: Actor, **data: Any) -> None:
    """An event on each report, and news for each finder (the mail says only: there is news)."""
    for report in _linked(advisory):
        record_event(report, kind, by, advisory=advisory.identifier, **data)
        outbox.queue_news(report)


def start_draft(report: Report, user: User) -> Advisory:
    with transaction.atomic():
        locked = _lock_report(report)
        _check_source(locked)
        language = draft_language(locked)
        advisory = _create(user, timezone.now(), _prefill(locked, language), language)
        advisory.reports.add(locked)
        record_event(locked, "advisory_drafted", actor(user), advisory=advisory.identifier)
    log.info("advisory %s drafted from %s", advisory.identifier, report.reference)
    return advisory


def add_report(advisory: Advisory, report: Report, user: User | None = None) -> None:
    """Another fixed report (a duplicate or a variant) feeds this advisory too."""
    with transaction.atomic():
        locked = _lock(advisory)
        if locked.status == Advisory.Status.PUBLISHED:
            raise AdvisoryError(_("A published advisory keeps the reports it was published for."))
        report = _lock_report(report)
        if locked.reports.filter(pk=report.pk).exists():
            raise AdvisoryError(
                _("%(ref)s is already in this advisory.") % {"ref": report.reference}
            )
        _check_source(report, locked)
        locked.reports.add(report)
        record_event(report, "advisory_report_added", actor(user), advisory=locked.identifier)
        outbox.queue_news(report)
    advisory.refresh_from_db()


def update_draft(advisory: Advisory, data: dict[str, Any], user: User) -> bool:
    """Change the draft and its settings; returns False when nothing changed.

    Each change is a new draft version: a finder's approval names the version they saw.
    A scheduled advisory that changes goes back to draft, to be scheduled again once the
    finders have seen the change.
    """
    unknown = set(data) - set(DRAFT_FIELDS) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"not advisory fields: {sorted(unknown)}")
    with transaction.atomic():
        locked = _lock(advisory)
        draft = {**empty_draft(), **locked.draft}
        new_draft = {**draft, **{k: v for k, v in data.items() if k in DRAFT_FIELDS}}
        changed = [n for n in DRAFT_FIELDS if new_draft[n] != draft[n]]
        changed += [n for n in SETTINGS_FIELDS if n in data and data[n] != getattr(locked, n)]
        if not changed:
            return False
        for name in SETTINGS_FIELDS:
            if name in data:
                setattr(locked, name, data[name])
        _save_draft(locked, new_draft, changed, user)
    advisory.refresh_from_db()
    advisory.__dict__.pop("_opened", None)
    return True


def _save_draft(
    locked: Advisory, new_draft: dict[str, Any], changed: list[str], user: User
) -> None:
    """A new draft version: saved, taken off the schedule, and the finders told."""
    locked.draft = new_draft
    locked.draft_version += 1
    locked.updated_at = timezone.now()
    unscheduled = locked.status == Advisory.Status.SCHEDULED
    if unscheduled:
        locked.status = Advisory.Status.DRAFT
    locked.save()
    _tell_finders(
        locked,
        "advisory_updated",
        actor(user),
        version=locked.draft_version,
        fields=changed,
        unscheduled=unscheduled,
    )


def update_translation(advisory: Advisory, language: str, data: dict[str, str], user: User) -> bool:
    """Set (or, with every text empty, remove) the translation into one of the site's languages.

    Part of the draft like any other text: a change is a new draft version for the finders.
    Returns False when nothing changed.
    """
    unknown = set(data) - set(TRANSLATED_FIELDS)
    if unknown:
        raise TypeError(f"not translated fields: {sorted(unknown)}")
    with transaction.atomic():
        locked = _lock(advisory)
        if language not in site_languages() or language == locked.language:
            raise AdvisoryError(_("Translate into another of the site's languages."))
        draft = {**empty_draft(), **locked.draft}
        translations = {k: dict(v) for k, v in (draft.get("translations") or {}).items()}
        before = translations.get(language)
        texts = {name: str(data.get(name) or "") for name in TRANSLATED_FIELDS}
        if any(texts.values()):
            translations[language] = texts
        else:
            translations.pop(language, None)
        if translations.get(language) == before:
            return False
        draft["translations"] = translations
        changed = [
            f"{language}:{n}" for n in TRANSLATED_FIELDS if (before or {}).get(n, "") != texts[n]
        ]
        _save_draft(locked, draft, changed, user)
    advisory.refresh_from_db()
    advisory.__dict__.pop("_opened", None)
    return True


def translations_of(content: dict[str, Any], primary: str) -> dict[str, dict[str, str]]:
    """The translated texts by language, in the site's order; never the primary language."""
    found = content.get("translations") or {}
    return {
        code: {name: str(found[code].get(name) or "") for name in TRANSLATED_FIELDS}
        for code in site_languages()
        if code != primary and code in found
    }


def in_language(content: dict[str, Any], language: str, primary: str) -> dict[str, Any]:
    """What is printed in one language: its texts over the facts all languages share."""
    if language == primary:
        return content
    return {**content, **translations_of(content, primary)[language]}


# --- What will be printed ------------------------------------------------------------------


def credit_line(report: Report) -> str:
    """What this report's finder is credited as now: their name or pseudonym, or nothing."""
    if report.credit not in (Credit.NAME, Credit.PSEUDONYM) or not lifecycle.earns_credit(report):
        return ""
    return " ".join(str(report.finder.get("name") or "").split())


def credits_for(advisory: Advisory) -> list[str]:
    """The credit lines exactly as they will be printed: current preferences, no repeats."""
    # With MELDPUNT_DUPLICATE_CREDIT=all, the finders of duplicates of a linked report too.
    credited = (c for report in _linked(advisory) for c in lifecycle.credited_reports(report))
    lines = (credit_line(report) for report in credited)
    return list(dict.fromkeys(line for line in lines if line))


def scores(draft: dict[str, Any]) -> dict[str, float | None]:
    """The CVSS base scores of the draft's vectors (the form has checked them)."""
    found: dict[str, float | None] = {"cvss31_score": None, "cvss40_score": None}
    for score in assessment.scores(
        str(draft.get("cvss31_vector") or ""), str(draft.get("cvss40_vector") or "")
    ):
        found[f"cvss{score.version.replace('.', '')}_score"] = float(score.score)
    return found


def content_of(advisory: Advisory) -> dict[str, Any]:
    """The draft as it would be published, with the scores of its vectors."""
    return {**empty_draft(), **advisory.draft, **scores(advisory.draft)}


def missing(content: dict[str, Any], primary: str = "") -> list[str]:
    """What a publication needs that the draft lacks, in the team's words."""
    problems = []
    for code, texts in translations_of(content, primary).items():
        name = translation.get_language_info(code)["name_translated"]
        if not (texts["title"].strip() and texts["summary"].strip()):
            problems.append(
                _("The translation into %(language)s needs a title and a summary.")
                % {"language": name}
            )
        # Each document must say how to fix what it calls fixed (CSAF test 6.1.27).
        if str(content.get("remediation") or "").strip() and not texts["remediation"].strip():
            problems.append(
                _("The translation into %(language)s needs the remediation too.")
                % {"language": name}
            )
    if not str(content.get("title", "")).strip():
        problems.append(_("The advisory needs a title."))
    if not str(content.get("summary", "")).strip():
        problems.append(_("The advisory needs a summary."))
    if not content.get("products"):
        problems.append(_("Name at least one affected product or system."))
    return problems


def _revision_history(advisory: Advisory) -> list[dict[str, Any]]:
    return [
        {"number": r.number, "date": r.published_at.isoformat(), "summary": r.summary}
        for r in advisory.revisions.order_by("number")
    ]


def _document(
    advisory: Advisory, content: dict[str, Any], credits: list[str], summary: str, now: datetime
) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """The CSAF documents of the next revision (the primary, then the translations by
    language); PublishRefused when one is not valid."""
    if problems := missing(content, advisory.language):
        raise PublishRefused(problems)
    history = _revision_history(advisory)
    number = len(history) + 1
    history.append({"number": number, "date": now.isoformat(), "summary": summary})
    document = csaf.build_document(advisory, content, credits, history, now)
    if messages := csaf.validate(document):
        raise PublishRefused([str(m) for m in messages])
    translated = {}
    for code in translations_of(content, advisory.language):
        text = in_language(content, code, advisory.language)
        translated[code] = csaf.build_document(advisory, text, credits, history, now, lang=code)
        if messages := csaf.validate(translated[code]):
            raise PublishRefused([f"{code}: {m}" for m in messages])
    return number, document, translated


def check_publishable(advisory: Advisory, now: datetime | None = None) -> None:
    """Would the advisory publish now? PublishRefused with the reasons if not."""
    now = now or timezone.now()
    _document(advisory, content_of(advisory), credits_for(advisory), _first_summary(advisory), now)


# --- Promises to the finders ---------------------------------------------------------------


def _approved_moment(found: FinderReview, advisory: Advisory) -> datetime | None:
    if stored := str(found.text.get("approved_publish_at") or ""):
        return datetime.fromisoformat(stored)
    # An approval given before the date was kept with it: the current date is the best guess.
    return advisory.publish_at


def promised_at(advisory: Advisory) -> datetime | None:
    """The moment before which publishing breaks a promise to a finder, or None.

    A scheduled moment was announced to every finder; an approval agreed to the date the
    finder saw (each finder's latest approval counts, even after the draft changed). The
    latest of these holds.
    """
    moments = []
    if advisory.status == Advisory.Status.SCHEDULED and advisory.publish_at:
        moments.append(advisory.publish_at)
    if approved := approved_at(advisory):
        moments.append(approved)
    return max(moments, default=None)


def approved_at(advisory: Advisory) -> datetime | None:
    """The latest moment a finder agreed to (each finder's latest approval counts), or None."""
    approvals = advisory.reviews.filter(decision=FinderReview.Decision.APPROVE)
    latest = {found.report_id: found for found in approvals.order_by("created_at", "pk")}
    moments = [m for found in latest.values() if (m := _approved_moment(found, advisory))]
    return max(moments, default=None)


def schedules_early(advisory: Advisory) -> datetime | None:
    """The approved moment the draft's publication date comes before, or None."""
    approved = approved_at(advisory)
    if approved is None or advisory.publish_at is None or advisory.revisions.exists():
        return None
    return approved if advisory.publish_at < approved else None


def is_early(advisory: Advisory, now: datetime | None = None) -> bool:
    """Would a first publication now come before a promised moment? Revisions never do."""
    if advisory.revisions.exists():
        return False
    promised = promised_at(advisory)
    return promised is not None and (now or timezone.now()) < promised


def review_started(advisory: Advisory) -> bool:
    """Has any finder answered a draft of this advisory?"""
    return advisory.reviews.exists()


def publish_now_offered(advisory: Advisory) -> bool:
    """A first publication by hand is offered once there is a draft worth showing the finders."""
    return advisory.revisions.exists() or not missing(content_of(advisory), advisory.language)


def _check_publish_now(
    advisory: Advisory, now: datetime, early_reason: str, skip_review: bool
) -> None:
    """The promises a first publication by hand must keep, or say why it breaks them."""
    problems = []
    if not review_started(advisory) and not skip_review:
        problems.append(
            _("No finder has answered the draft yet: confirm that their review is skipped.")
        )
    if is_early(advisory, now) and early_reason not in EARLY_REASONS:
        problems.append(
            _("This is earlier than the date promised to the finders: give the reason.")
        )
    if problems:
        raise PublishRefused(problems)


# --- Scheduling and publishing -------------------------------------------------------------


def schedule(advisory: Advisory, user: User, early_reason: str = "") -> None:
    """Publish at the agreed moment: the worker does it (publish_due).

    A moment before the one a finder approved breaks that promise like "publish now" would:
    it needs one of EARLY_REASONS (the view asks for a fresh second factor), is recorded on
    each report and the finders are told.
    """
    with transaction.atomic():
        locked = _lock(advisory)
        if locked.status != Advisory.Status.DRAFT:
            raise AdvisoryError(_("Only a draft can be scheduled."))
        if locked.publish_at is None or locked.publish_at <= timezone.now():
            raise AdvisoryError(_("Set a publication date and time in the future first."))
        approved = schedules_early(locked)
        if approved is not None and early_reason not in EARLY_REASONS:
            raise PublishRefused(
                [_("This is earlier than the date a finder approved: give the reason.")]
            )
        check_publishable(locked)  # find out now, not at the agreed moment
        locked.status = Advisory.Status.SCHEDULED
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        publish_at = locked.publish_at.isoformat()
        by = actor(user)
        if approved is not None:
            for report in _linked(locked):
                record_event(
                    report,
                    "advisory_scheduled_early",
                    by,
                    advisory=locked.identifier,
                    promised_at=approved.isoformat(),
                    publish_at=publish_at,
                    reason=early_reason,
                )
        _tell_finders(locked, "advisory_scheduled", by, publish_at=publish_at)
    advisory.refresh_from_db()


def unschedule(advisory: Advisory, user: User) -> None:
    with transaction.atomic():
        locked = _lock(advisory)
        if locked.status != Advisory.Status.SCHEDULED:
            raise AdvisoryError(_("This advisory is not scheduled."))
        locked.status = Advisory.Status.DRAFT
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
        _tell_finders(locked, "advisory_unscheduled", actor(user))
    advisory.refresh_from_db()


def _first_summary(advisory: Advisory) -> str:
    with translation.override(advisory.language):
        return _("Initial publication")


def publish(
    advisory: Advisory,
    *,
    summary: str,
    now: datetime | None = None,
    user: User | None = None,
    early_reason: str = "",
    skip_review: bool = False,
    on_schedule: bool = False,
) -> AdvisoryRevision:
    """Publish the draft as the next revision; nothing is stored if it is refused.

    A first publication by hand ("publish now") keeps the finders' review and the promised
    date, or records why not (`skip_review`, `early_reason`, one of EARLY_REASONS). The
    worker publishes `on_schedule`, at the moment the team scheduled.
    """
    now = now or timezone.now()
    by = actor(user)
    with transaction.atomic():
        locked = _lock(advisory)
        content, credits = content_of(locked), credits_for(locked)
        last = locked.revisions.order_by("-number").first()
        promised = promised_at(locked)
        early = last is None and not on_schedule and is_early(locked, now)
        skipped = last is None and not on_schedule and not review_started(locked)
        if last is None and not on_schedule:
            _check_publish_now(locked, now, early_reason, skip_review)
        if last is not None:
            if not summary.strip():
                raise PublishRefused([_("Say what changed in this revision.")])
            # An older revision lacks the draft fields added since: they were empty then.
            if {**empty_draft(), **last.content} == content and last.credits == credits:
                raise PublishRefused([_("Nothing has changed since the last publication.")])
        summary = summary.strip() or _first_summary(locked)
        number, document, translated = _document(locked, content, credits, summary, now)
        revision = AdvisoryRevision.objects.create(
            advisory=locked,
            number=number,
            published_at=now,
            summary=summary[:500],
            content=content,
            credits=credits,
            csaf=document,
            translations=translated,
        )
        locked.status = Advisory.Status.PUBLISHED
        locked.published_at = locked.published_at or now
        locked.updated_at = now
        locked.save(update_fields=["status", "published_at", "updated_at"])
        for report in _linked(locked):
            report = _lock_report(report)
            if report.state == State.FIXED:
                lifecycle.move_locked(report, State.PUBLISHED, user)
            record_event(
                report,
                "advisory_published",
                by,
                advisory=locked.identifier,
                revision=number,
                **({"review_skipped": True} if skipped else {}),
            )
            if early and promised is not None:
                record_event(
                    report,
                    "advisory_published_early",
                    by,
                    advisory=locked.identifier,
                    promised_at=promised.isoformat(),
                    reason=early_reason,
                )
            outbox.queue_news(report)
    log.info("advisory %s published as revision %d", locked.identifier, number)
    advisory.refresh_from_db()
    return revision


# --- Withdrawn credits ---------------------------------------------------------------------


def _printed_name(report: Report) -> str:
    # As credit_line prints it, whatever the preference is now.
    return " ".join(str(report.finder.get("name") or "").split())


def credited_in(report: Report) -> list[Advisory]:
    """The published advisories whose current revision names this report's finder."""
    name = _printed_name(report)
    found = []
    for advisory in Advisory.objects.filter(reports=report, status=Advisory.Status.PUBLISHED):
        last = advisory.revisions.order_by("-number").first()
        if name and last is not None and name in last.credits:
            found.append(advisory)
    return sorted(found, key=lambda a: a.identifier)


def _credits_summary(advisory: Advisory) -> str:
    # Public, in the revision history: it says that, never whose.
    with translation.override(advisory.language):
        return _("Credits changed at a finder's request.")


def revise_credits(advisory: Advisory, by: Actor | str, now: datetime | None = None) -> bool:
    """A new revision that drops the printed credits no finder consents to any more.

    Only the credits change: the content is the last revision's, not the draft, so edits
    the team has not published yet stay unpublished. Returns False when nothing changed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(advisory)
        last = locked.revisions.order_by("-number").first()
        if last is None:
            return False
        consented = set(credits_for(locked))
        credits = [line for line in last.credits if line in consented]
        if credits == last.credits:
            return False
        summary = _credits_summary(locked)
        number, document, translated = _document(locked, dict(last.content), credits, summary, now)
        AdvisoryRevision.objects.create(
            advisory=locked,
            number=number,
            published_at=now,
            summary=summary,
            content=last.content,
            credits=credits,
            csaf=document,
            translations=translated,
        )
        locked.updated_at = now
        locked.save(update_fields=["updated_at"])
        for report in _linked(locked):
            record_event(
                report,
                "advisory_published",
                by,
                advisory=locked.identifier,
                revision=number,
                credits_withdrawn=True,
            )
    log.info("advisory %s revised (%d): credits withdrawn", locked.identifier, number)
    return True


def withdraw_credits(report: Report, by: Actor | str) -> list[str]:
    """Revise the report's published advisories once its finder withdrew credit.

    The caller has saved the new preference (or erased the name) first, in its own
    transaction: a revision the validator refuses must not undo an erasure. Such a refusal
    is recorded for the team, like a scheduled one. Returns the revised identifiers.
    """
    revised = []
    published = Advisory.objects.filter(reports=report, status=Advisory.Status.PUBLISHED)
    for advisory in published.order_by("identifier"):
        try:
            if revise_credits(advisory, by):
                revised.append(advisory.identifier)
        except PublishRefused as exc:
            log.error("advisory %s: credits not withdrawn, document refused", advisory.identifier)
            with transaction.atomic():
                _tell_team_refused(advisory, exc.messages)
    return revised


def _tell_team_refused(advisory: Advisory, messages: list[str]) -> None:
    """An event on each linked report: the validator refused what was to be published."""
    # Validator messages name JSON paths and rules; cut short in case one quotes a value.
    shown = [m[:300] for m in messages[:20]]
    for report in _linked(advisory):
        record_event(
            report,
            "advisory_publication_refused",
            "system",
            advisory=advisory.identifier,
            messages=shown,
        )


def _refused(pk: int, messages: list[str]) -> None:
    """A scheduled advisory that would not validate goes back to draft, and the team is told."""
    with transaction.atomic():
        locked = Advisory.objects.select_for_update().filter(pk=pk).first()
        if locked is None or locked.status != Advisory.Status.SCHEDULED:
            return
        locked.status = Advisory.Status.DRAFT
        locked.save(update_fields=["status"])
        _tell_team_refused(locked, messages)
    log.error(
        "advisory %s was not published: %d validation problem(s); back to draft",
        locked.identifier,
        len(messages),
    )


def _publish_one(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        # Of two workers, the one that gets the row publishes; the other skips it.
        due = (
            Advisory.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=Advisory.Status.SCHEDULED, publish_at__lte=now)
            .first()
        )
        if due is None:
            return False
        publish(due, summary="", now=now, on_schedule=True)
    return True


def publish_due(now: datetime | None = None) -> int:
    """The worker's job: publish every scheduled advisory whose moment has come."""
    now = now or timezone.now()
    due = Advisory.objects.filter(status=Advisory.Status.SCHEDULED, publish_at__lte=now)
    published = 0
    for pk in list(due.order_by("publish_at", "pk").values_list("pk", flat=True)):
        try:
            published += _publish_one(pk, now)
        except PublishRefused as exc:
            _refused(pk, exc.messages)
        except IntegrityError:
            # Another worker published it between our look and our lock (SQLite has no
            # row locks; the unique revision number catches it).
            log.info("advisory %d was published by another worker", pk)
        except Exception:
            log.exception("advisory %d could not be published; next try on the next run", pk)
    return published


# --- Reviews -------------------------------------------------------------------------------


def review(
    advisory: Advisory,
    report: Report,
    decision: str,
    text: str = "",
    proposed_at: datetime | None = None,
) -> FinderReview:
    """A finder's answer to the current draft version."""
    with transaction.atomic():
        locked = _lock(advisory)
        if locked.status == Advisory.Status.PUBLISHED:
            raise AdvisoryError(_("This advisory has been published already."))
        if not locked.reports.filter(pk=report.pk).exists():
            raise AdvisoryError("not this finder's advisory")
        found = FinderReview(
            advisory=locked,
            report=report,
            created_at=timezone.now(),
            draft_version=locked.draft_version,
            decision=decision,
            proposed_at=proposed_at if decision == FinderReview.Decision.OTHER_DATE else None,
        )
        found.text = {"text": text}
        if decision == FinderReview.Decision.APPROVE and locked.publish_at is not None:
            # The date this approval agreed to: a later edit of the date does not move it.
            found.text = {**found.text, "approved_publish_at": locked.publish_at.isoformat()}
        found.save()
        record_event(
            report,
            "advisory_reviewed",
            "finder",
            advisory=locked.identifier,
            decision=decision,
            version=locked.draft_version,
        )
    log.info("finder of %s reviewed advisory %s", report.reference, locked.identifier)
    return found


def is_stale(found: FinderReview, advisory: Advisory) -> bool:
    """A review of an earlier draft version than the current one."""
    return found.draft_version != advisory.draft_version


EARLY_KINDS = ("advisory_published_early", "advisory_scheduled_early")


def early_publications(report: Report) -> list[dict[str, Any]]:
    """The advisories of this report published, or scheduled, before the moment promised."""
    events = report.events.filter(kind__in=EARLY_KINDS).order_by("created_at", "pk")
    return [
        {
            "advisory": str(e.data.get("advisory", "")),
            "promised_at": datetime.fromisoformat(str(e.data["promised_at"])),
            "scheduled": e.kind == "advisory_scheduled_early",
            "published_at": (
                datetime.fromisoformat(str(e.data["publish_at"]))
                if e.kind == "advisory_scheduled_early"
                else e.created_at
            ),
            "reason": EARLY_REASONS.get(str(e.data.get("reason")), ""),
        }
        for e in events
    ]


def reviews_by(report: Report) -> list[FinderReview]:
    """A finder's own answers on every advisory drafted from their report, published or not."""
    return list(FinderReview.objects.filter(report=report).select_related("advisory"))


def unpublished_for(report: Report) -> list[Advisory]:
    """The drafts and scheduled advisories a finder is asked to review."""
    unpublished = Advisory.objects.filter(reports=report).exclude(status=Advisory.Status.PUBLISHED)
    return list(unpublished.order_by("created_at"))
