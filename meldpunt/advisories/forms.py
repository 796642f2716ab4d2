"""Forms of the advisory workflow: the team's draft, and the finder's review of it.

The forms check everything that will be printed (vectors, CWE, CVE, URLs) and turn the
publication moment, typed as a wall-clock time in a named zone, into one UTC instant.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from meldpunt.advisories import exports, publishing
from meldpunt.advisories.models import Advisory, FinderReview
from meldpunt.lib.forms import Form, TextField
from meldpunt.reports import assessment

# As the CVE Record Format has it (cveId).
CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")
MAX_PRODUCTS = 50
MAX_REFERENCES = 20
PRODUCT_HELP = _(
    "One per line: name | affected versions | fixed version. "
    "Leave out the versions for a system, e.g. a web site."
)


# The IANA regions. Everything else in the database is a legacy alias ("US/Eastern", "Zulu",
# "Etc/GMT+5" with its inverted sign) or not a zone at all ("Factory", "localtime", "posix/…").
REGIONS = (
    "Europe", "America", "Africa", "Asia", "Atlantic", "Australia", "Indian", "Pacific",
    "Antarctica", "Arctic",
)  # fmt: skip
COMMON_ZONES = (
    "UTC", "Europe/Amsterdam", "Europe/Brussels", "Europe/Luxembourg", "Europe/Paris",
    "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
)  # fmt: skip


def _choice(name: str) -> tuple[str, str]:
    return name, name.replace("_", " ")


@cache
def _zones_by_region() -> list[tuple[str, list[tuple[str, str]]]]:
    names = zoneinfo.available_timezones()
    return [
        (region, [_choice(n) for n in sorted(names) if n.startswith(f"{region}/")])
        for region in REGIONS
    ]


def time_zone_choices() -> list[tuple[Any, Any]]:
    """The organisation's zone, then common ones, then every real zone grouped by region."""
    common = list(dict.fromkeys((str(settings.TIME_ZONE), *COMMON_ZONES)))
    return [(_("Common time zones"), [_choice(n) for n in common]), *_zones_by_region()]


def with_zone(choices: list[tuple[Any, Any]], zone: str) -> list[tuple[Any, Any]]:
    """The choices plus a zone set before this list existed, so saving again keeps it."""
    if not zone or any(zone == name for _g, group in choices for name, _l in group):
        return choices
    (label, common), *rest = choices
    return [(label, [*common, _choice(zone)]), *rest]


def local_parts(moment: datetime | None, zone: str) -> tuple[date | None, time | None]:
    """A UTC instant as the date and time on the wall in this zone."""
    if moment is None:
        return None, None
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    return local.date(), local.time().replace(second=0, microsecond=0)


def _instant(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of a wall-clock time; refused in the hour clocks skip."""
    tz = zoneinfo.ZoneInfo(zone)
    local = datetime.combine(day, at, tzinfo=tz)
    # A time in the spring-forward gap comes back shifted: it never shows on a clock there.
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ValidationError(
            _("This time does not exist in %(zone)s (the clocks change)."), params={"zone": zone}
        )
    return utc


class MomentMixin:
    """A date, a time and a zone; cleaned into `<prefix>at` (UTC) and the zone."""

    def moment(self, cleaned: dict[str, Any], prefix: str, required: bool) -> datetime | None:
        day, at = cleaned.get(f"{prefix}date"), cleaned.get(f"{prefix}time")
        zone = cleaned.get(f"{prefix}tz") or settings.TIME_ZONE
        form: Any = self
        if day is None and at is None:
            if required:
                form.add_error(f"{prefix}date", _("Give a date and a time."))
            return None
        if day is None or at is None:
            form.add_error(
                f"{prefix}date" if day is None else f"{prefix}time",
                _("Give both the date and the time."),
            )
            return None
        try:
            return _instant(day, at, zone)
        except ValidationError as exc:
            form.add_error(f"{prefix}time", exc)
            return None


def _date_field(label: Any, required: bool = False) -> forms.DateField:
    # A date input takes only ISO dates: the nl/fr display format left it empty.
    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    return forms.DateField(label=label, required=required, widget=widget)


def _time_field(label: Any, required: bool = False) -> forms.TimeField:
    return forms.TimeField(
        label=label, required=required, widget=forms.TimeInput(attrs={"type": "time"})
    )


def _zone_field(label: Any) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, choices=time_zone_choices)


class AdvisoryForm(MomentMixin, Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    summary = TextField(
        label=_("Summary"),
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
        help_text=_("Public once published: what is affected, the impact, who must act."),
    )
    products = TextField(
        label=_("Affected products or systems"),
        help_text=PRODUCT_HELP,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    remediation = TextField(
        label=_("Fixed version or remediation"),
        required=False,
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    cvss31_vector = forms.CharField(label=_("CVSS 3.1 vector"), required=False, max_length=200)
    cvss40_vector = forms.CharField(label=_("CVSS 4.0 vector"), required=False, max_length=300)
    cwe = forms.CharField(label=_("CWE"), required=False, max_length=20, help_text="CWE-79")
    ssvc = forms.CharField(
        label=_("SSVC decision"),
        required=False,
        max_length=300,
        help_text=_(
            "From the report's assessment; published with the advisory and as a note in its "
            "CSAF document. Empty leaves it out."
        ),
    )
    cve = forms.CharField(
        label=_("CVE id"),
        required=False,
        max_length=30,
        help_text=_("Only if one was assigned, e.g. CVE-2026-12345."),
    )
    packages = TextField(
        label=_("Open-source packages (for OSV)"),
        required=False,
        help_text=_(
            "Only for packages: one range per line, ecosystem | package name | introduced | "
            "fixed, e.g. PyPI | example | 1.0 | 1.4.2. Leave introduced empty for all "
            "earlier versions."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    references = TextField(
        label=_("References"),
        required=False,
        help_text=_("Web addresses (http or https), one per line."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    publish_date = _date_field(_("Publication date"))
    publish_time = _time_field(_("Publication time"))
    publish_tz = _zone_field(_("Time zone"))
    language = forms.ChoiceField(label=_("Language of the advisory"), choices=settings.LANGUAGES)

    def __init__(self, *args: Any, advisory: Advisory, **kwargs: Any) -> None:
        self.advisory = advisory
        if not args and "data" not in kwargs:
            kwargs.setdefault("initial", self.initial_from(advisory))
        super().__init__(*args, **kwargs)
        zone = cast(forms.ChoiceField, self.fields["publish_tz"])
        zone.choices = with_zone(time_zone_choices(), advisory.publish_tz)

    @staticmethod
    def initial_from(advisory: Advisory) -> dict[str, Any]:
        draft = advisory.draft
        day, at = local_parts(advisory.publish_at, advisory.publish_tz)
        return {
            **{k: draft.get(k, "") for k in ("title", "summary", "remediation", "cve", "cwe")},
            "ssvc": draft.get("ssvc", ""),
            "cvss31_vector": draft.get("cvss31_vector", ""),
            "cvss40_vector": draft.get("cvss40_vector", ""),
            "products": "\n".join(
                " | ".join(
                    v for v in (p["name"], p.get("affected", ""), p.get("fixed", ""))
                ).rstrip(" |")
                for p in draft.get("products", [])
            ),
            "references": "\n".join(draft.get("references", [])),
            "packages": "\n".join(
                " | ".join(
                    (p["ecosystem"], p["name"], p.get("introduced", ""), p.get("fixed", ""))
                ).rstrip(" |")
                for p in draft.get("packages", [])
            ),
            "publish_date": day,
            "publish_time": at,
            "publish_tz": advisory.publish_tz,
            "language": advisory.language,
        }

    def clean_products(self) -> list[dict[str, str]]:
        products = []
        for number, line in enumerate(self.cleaned_data["products"].splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) > 3 or not parts[0]:
                raise ValidationError(
                    _("Line %(number)d: write name | affected versions | fixed version."),
                    params={"number": number},
                )
            parts += [""] * (3 - len(parts))
            if any(len(p) > 200 for p in parts):
                raise ValidationError(_("Line %(number)d is too long."), params={"number": number})
            products.append({"name": parts[0], "affected": parts[1], "fixed": parts[2]})
        if not products:
            raise ValidationError(_("Name at least one affected product or system."))
        if len(products) > MAX_PRODUCTS:
            raise ValidationError(_("At most %(max)d products."), params={"max": MAX_PRODUCTS})
        return products

    def _vector(self, name: str, scorer: Any) -> str:
        value = self.cleaned_data[name].strip()
        if not value:
            return ""
        try:
            return str(scorer(value).vector)
        except assessment.AssessmentError as exc:
            raise ValidationError(str(exc)) from None

    def clean_cvss31_vector(self) -> str:
        return self._vector("cvss31_vector", assessment.score_cvss31)

    def clean_cvss40_vector(self) -> str:
        return self._vector("cvss40_vector", assessment.score_cvss40)

    def clean_cwe(self) -> str:
        try:
            return assessment.clean_cwe(self.cleaned_data["cwe"])
        except assessment.AssessmentError as exc:
            raise ValidationError(str(exc)) from None

    def clean_cve(self) -> str:
        cve = str(self.cleaned_data["cve"]).strip().upper()
        if cve and not CVE_RE.fullmatch(cve):
            raise ValidationError(
                _("Write the CVE id like CVE-2026-1234 (CVE, the year, a number).")
            )
        return cve

    def clean_packages(self) -> list[dict[str, str]]:
        packages = []
        for number, line in enumerate(self.cleaned_data["packages"].splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            parts += [""] * (4 - len(parts))
            if len(parts) > 4 or not parts[0] or not parts[1]:
                raise ValidationError(
                    _("Line %(number)d: write ecosystem | package name | introduced | fixed."),
                    params={"number": number},
                )
            if any(len(p) > 200 for p in parts):
                raise ValidationError(_("Line %(number)d is too long."), params={"number": number})
            if parts[0] not in exports.OSV_ECOSYSTEMS:
                raise ValidationError(
                    _("Line %(number)d: %(ecosystem)s is not an OSV ecosystem (e.g. %(some)s)."),
                    params={
                        "number": number,
                        "ecosystem": parts[0][:40],
                        "some": ", ".join(("PyPI", "npm", "Maven", "Go", "crates.io")),
                    },
                )
            packages.append(
                {"ecosystem": parts[0], "name": parts[1], "introduced": parts[2], "fixed": parts[3]}
            )
        if len(packages) > MAX_PRODUCTS:
            raise ValidationError(_("At most %(max)d packages."), params={"max": MAX_PRODUCTS})
        return packages

    def clean_references(self) -> list[str]:
        check = URLValidator(schemes=["http", "https"])
        urls = [line.strip() for line in self.cleaned_data["references"].splitlines()]
        urls = list(dict.fromkeys(url for url in urls if url))
        for url in urls:
            try:
                check(url)
            except ValidationError:
                raise ValidationError(
                    _("Not a web address (http or https): %(url)s"), params={"url": url[:100]}
                ) from None
        if len(urls) > MAX_REFERENCES:
            raise ValidationError(_("At most %(max)d references."), params={"max": MAX_REFERENCES})
        return urls

    def clean_language(self) -> str:
        language = str(self.cleaned_data["language"])
        if language in (self.advisory.draft.get("translations") or {}):
            raise ValidationError(
                _("There is a translation into this language: remove it first (empty its texts).")
            )
        return language

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        at = self.moment(cleaned, "publish_", required=False)
        if at is not None and at != self.advisory.publish_at and at <= timezone.now():
            self.add_error("publish_date", _("The publication moment cannot be in the past."))
        cleaned["publish_at"] = at
        return cleaned

    def changes(self) -> dict[str, Any]:
        """What update_draft takes: the draft fields and the settings."""
        data = self.cleaned_data
        names = (
            "title", "summary", "products", "remediation", "cvss31_vector", "cvss40_vector",
            "cwe", "ssvc", "cve", "references", "packages", "publish_at", "publish_tz",
            "language",
        )  # fmt: skip
        return {name: data[name] for name in names}


class TranslationForm(Form):
    """The advisory's texts in another of the site's languages; all empty removes it."""

    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    summary = TextField(
        label=_("Summary"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS, required=False
    )
    remediation = TextField(
        label=_("Fixed version or remediation"),
        required=False,
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, advisory: Advisory, language: str, **kwargs: Any) -> None:
        self.language = language
        kwargs.setdefault("prefix", f"translation-{language}")
        if not args and "data" not in kwargs:
            found = (advisory.draft.get("translations") or {}).get(language, {})
            kwargs.setdefault("initial", {name: found.get(name, "") for name in self.base_fields})
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        texts = [str(cleaned.get(name) or "").strip() for name in self.fields]
        if any(texts):
            for name in ("title", "summary"):
                if not str(cleaned.get(name) or "").strip() and name not in self.errors:
                    self.add_error(name, _("A translation needs a title and a summary."))
        return cleaned

    def changes(self) -> dict[str, str]:
        return {name: str(self.cleaned_data.get(name) or "") for name in self.fields}


class AddReportForm(Form):
    reference = forms.CharField(
        label=_("Another fixed report (duplicate or variant)"),
        max_length=30,
        help_text="MP-2026-0042",
    )

    def clean_reference(self) -> Any:
        from meldpunt.reports.models import Report

        report = Report.objects.by_reference(self.cleaned_data["reference"])
        if report is None:
            raise ValidationError(_("There is no report with this reference."))
        return report


class RevisionForm(Form):
    """Publish now or a revision; a first publication asks what it breaks, and why."""

    summary = forms.CharField(
        label=_("What changed"),
        max_length=500,
        required=False,
        help_text=_("Printed in the revision history. Needed for a revision."),
    )
    early_reason = forms.ChoiceField(
        label=_("Why publish before the promised date?"),
        choices=[("", "---------"), *publishing.EARLY_REASONS.items()],
        required=False,
        help_text=_("The finders are told, with this reason."),
    )
    skip_review = forms.BooleanField(
        label=_("Publish without the finders' review"),
        required=False,
    )

    def __init__(self, *args: Any, advisory: Advisory, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first = not advisory.revisions.exists()
        self.early = publishing.is_early(advisory)
        self.skips_review = self.first and not publishing.review_started(advisory)
        if not self.early:
            del self.fields["early_reason"]
        if not self.skips_review:
            del self.fields["skip_review"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.early and not cleaned.get("early_reason"):
            self.add_error("early_reason", _("Choose why it cannot wait."))
        if self.skips_review and not cleaned.get("skip_review"):
            self.add_error("skip_review", _("Confirm that the finders' review is skipped."))
        return cleaned


class EarlyScheduleForm(Form):
    """Schedule before the moment a finder approved: one of the reasons the finders are told."""

    early_reason = forms.ChoiceField(
        label=_("Why publish before the date a finder approved?"),
        choices=[("", "---------"), *publishing.EARLY_REASONS.items()],
        help_text=_("The finders are told, with this reason."),
        error_messages={"required": _("Choose why it cannot wait.")},
    )


# How the team and the finder read a decision (the model's choices are not translated).
DECISION_LABELS: dict[str, Any] = {
    FinderReview.Decision.APPROVE: _("Approved"),
    FinderReview.Decision.COMMENT: _("Commented"),
    FinderReview.Decision.OTHER_DATE: _("Asked for another date"),
}


class ReviewForm(MomentMixin, Form):
    decision = forms.ChoiceField(
        label=_("Your answer"),
        widget=forms.RadioSelect,
        choices=[
            (FinderReview.Decision.APPROVE, _("I approve this draft and date")),
            (FinderReview.Decision.COMMENT, _("I have a comment")),
            (FinderReview.Decision.OTHER_DATE, _("I ask for another publication date")),
        ],
    )
    text = TextField(
        label=_("Your comment"),
        required=False,
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    proposed_date = _date_field(_("Proposed date"))
    proposed_time = _time_field(_("Proposed time"))
    proposed_tz = _zone_field(_("Time zone"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        decision = cleaned.get("decision")
        if decision == FinderReview.Decision.COMMENT and not cleaned.get("text", "").strip():
            self.add_error("text", _("Write your comment."))
        at = self.moment(cleaned, "proposed_", required=decision == "other_date")
        if decision == FinderReview.Decision.OTHER_DATE and at is not None and at <= timezone.now():
            self.add_error("proposed_date", _("Propose a moment in the future."))
        cleaned["proposed_at"] = at
        return cleaned
