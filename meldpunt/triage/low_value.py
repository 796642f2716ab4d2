"""The "likely low value" label on the desk: answer in one action, take it back, edit the rules.

The rules and what they do live in `meldpunt.begbounty`; this is how staff use them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from meldpunt.accounts.access import admin_required, staff_profile
from meldpunt.accounts.gate import staff_required
from meldpunt.begbounty import services
from meldpunt.begbounty.models import Hit, Rule
from meldpunt.begbounty.rules import RuleError
from meldpunt.begbounty.store import precision
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.pages import render_private
from meldpunt.reports.lifecycle import WorkflowError
from meldpunt.reports.messages import PLACEHOLDER_RE, PLACEHOLDERS
from meldpunt.reports.models import Report
from meldpunt.triage.access import get_report_for_triager
from meldpunt.triage.forms import checked_text

LANGUAGES = tuple(settings.SUPPORTED_LANGUAGES)


@dataclass(frozen=True)
class LowValue:
    """What the report page shows: the rule, the words that matched, or why it is real."""

    rule: str
    name: str
    matched: list[str]
    overridden: str
    guard_matched: list[str]
    labelled: bool
    taken_back: bool


def report_panel(report: Report) -> LowValue | None:
    hit = Hit.objects.filter(report=report).first()
    if hit is None:
        return None
    rule = Rule.objects.filter(slug=hit.rule).first()
    evidence = hit.evidence  # opened here, for the page: the finder's words stay sealed
    return LowValue(
        rule=hit.rule,
        name=rule.name if rule else hit.rule,
        matched=[str(w) for w in evidence.get("matched", [])],
        overridden=hit.overridden,
        guard_matched=[str(w) for w in evidence.get("guard", [])],
        labelled=bool(report.low_value_rule),
        taken_back=hit.not_low_value,
    )


def _back(report: Report) -> HttpResponse:
    return HttpResponseRedirect(reverse("triage:report", args=[report.uid]), status=303)


class AnswerForm(Form):
    text = TextField(label=_("Message to the finder"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)

    def clean_text(self) -> str:
        return checked_text(self.cleaned_data["text"])


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def answer(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """GET shows the rule's answer in the finder's language; POST sends it and closes."""
    report = get_report_for_triager(request, uid)
    if request.method == "POST":
        form = AnswerForm(request.POST)
        if form.is_valid():
            try:
                services.answer_low_value(
                    report, staff_profile(request).user, form.cleaned_data["text"]
                )
            except WorkflowError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("The answer has been sent and the report closed."))
                return _back(report)
        status = 400
    else:
        form = AnswerForm(initial={"text": services.answer_text(report)})
        status = 200
    context = {
        "report": report,
        "form": form,
        "low_value": report_panel(report),
        "first_due": report.first_response_at is None,
        "language": settings.SUPPORTED_LANGUAGES.get(report.language, report.language),
    }
    return render_private(request, "triage/low_value/answer.html", context, status=status)


@require_POST
@staff_required
def not_low_value(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    report = get_report_for_triager(request, uid)
    services.mark_not_low_value(report, staff_profile(request).user)
    messages.success(request, _("The label has been taken back; the rule's precision counts it."))
    return _back(report)


# The rules screen (admins).


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class RuleForm(Form):
    slug = forms.SlugField(
        label=gettext_lazy("Short name"),
        max_length=60,
        help_text=gettext_lazy("Lower-case letters, digits and hyphens; it cannot change later."),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False)
    phrases = TextField(
        label=gettext_lazy("Phrases"),
        max_length=20_000,
        help_text=gettext_lazy(
            "One per line, in any language; matched as whole words, case does not matter. "
            "A * at the end stands for the rest of the word. No regular expressions."
        ),
    )
    guards = TextField(
        label=gettext_lazy("Conditions that make a report real"),
        max_length=20_000,
        required=False,
        help_text=gettext_lazy(
            "One condition per line: the reason staff see, a vertical bar, then its phrases "
            "separated by commas. Example: SPF allows every server | +all"
        ),
    )

    def __init__(self, *args: Any, rule: Rule | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule = rule
        if rule is not None:
            del self.fields["slug"]
        for language in LANGUAGES:
            self.fields[f"answer_{language}"] = TextField(
                label=_("Answer (%(language)s)")
                % {"language": settings.SUPPORTED_LANGUAGES[language]},
                max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
            )

    def clean_guards(self) -> list[dict[str, Any]]:
        guards = []
        for line in _lines(self.cleaned_data.get("guards", "")):
            reason, bar, phrases = line.partition("|")
            if not bar:
                raise forms.ValidationError(
                    _("“%(line)s”: put a | between the reason and the phrases.")
                    % {"line": line[:60]}
                )
            guards.append(
                {
                    "reason": reason.strip(),
                    "phrases": [p.strip() for p in phrases.split(",") if p.strip()],
                }
            )
        return guards

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for language in LANGUAGES:
            body = data.get(f"answer_{language}", "")
            unknown = sorted(set(PLACEHOLDER_RE.findall(body)) - set(PLACEHOLDERS))
            if unknown:
                self.add_error(
                    f"answer_{language}",
                    _("Unknown placeholders: %(unknown)s. Use only %(known)s.")
                    % {
                        "unknown": ", ".join(f"{{{n}}}" for n in unknown),
                        "known": ", ".join(f"{{{n}}}" for n in PLACEHOLDERS),
                    },
                )
        slug = data.get("slug")
        if self.rule is None and slug == "new":
            self.add_error("slug", _("Choose another short name."))
        elif self.rule is None and slug and Rule.objects.filter(slug=slug).exists():
            self.add_error("slug", _("A rule with this short name exists already."))
        return data

    def save(self, user: User) -> Rule | None:
        data = self.cleaned_data
        rule = self.rule or Rule(slug=data["slug"], position=1000)
        rule.name = data["name"]
        rule.enabled = data["enabled"]
        rule.phrases = _lines(data["phrases"])
        rule.guards = data["guards"]
        rule.answers = {lang: data[f"answer_{lang}"] for lang in LANGUAGES}
        try:
            return services.save_rule(rule, user)
        except RuleError as exc:
            self.add_error(None, str(exc))
            return None


def initial_of(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "enabled": rule.enabled,
        "phrases": "\n".join(rule.phrases),
        "guards": "\n".join(
            f"{g.get('reason', '')} | {', '.join(g.get('phrases', []))}" for g in rule.guards
        ),
        **{f"answer_{lang}": (rule.answers or {}).get(lang, "") for lang in LANGUAGES},
    }


@require_safe
@admin_required
def rules(request: HttpRequest) -> HttpResponse:
    stats = precision()
    rows = [(rule, stats.get(rule.slug)) for rule in Rule.objects.all()]
    return render_private(request, "triage/low_value/rules.html", {"rows": rows})


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def edit_rule(request: HttpRequest, slug: str = "") -> HttpResponse:
    rule = get_object_or_404(Rule, slug=slug) if slug else None
    if request.method == "POST":
        form = RuleForm(request.POST, rule=rule)
        if form.is_valid() and form.save(staff_profile(request).user):
            messages.success(request, _("The rule has been saved."))
            return HttpResponseRedirect(reverse("triage:low_value_rules"), status=303)
        status = 400
    else:
        initial = initial_of(rule) if rule else {"enabled": True}
        form = RuleForm(initial=initial, rule=rule)
        status = 200
    context = {"rule": rule, "form": form, "placeholders": PLACEHOLDERS}
    return render_private(request, "triage/low_value/edit_rule.html", context, status=status)
