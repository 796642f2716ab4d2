"""Forms of the triage workflow. Each checks its input and, in `save`, runs its action.

`save` returns False with the refusal as a form error when the life cycle says no at the
last moment (another triager was quicker), so views stay a guard and a redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.uploads import AttachmentsField
from meldpunt.reports import assessment, cvss_metrics, lifecycle, messages, ssvc
from meldpunt.reports.labels import (
    ASSESSMENT_LABELS,
    DELIVERY_LABELS,
    RESOLUTION_LABELS,
    STATE_LABELS,
)
from meldpunt.reports.models import Message, OutboundMail, Report, Resolution, State
from meldpunt.reports.services import StorageFull
from meldpunt.triage.models import MessageTemplate, TemplateKind

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise  # lazy text, as the stubs name it

STORAGE_FULL = _(
    "The attachments cannot be stored right now (the storage is full): nothing was stored "
    "or sent. Send the message without them, or try again later."
)


def move_label(report: Report, to_state: str, resolution: str) -> str:
    if report.state == State.CLOSED:
        return str(_("Re-open the report"))
    if to_state == State.CLOSED:
        return str(_("Close: %(resolution)s") % {"resolution": RESOLUTION_LABELS[resolution]})
    return str(STATE_LABELS[to_state])


def _save(form: forms.Form, action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    """Run a workflow action; a refusal becomes an error on the form."""
    try:
        action(*args, **kwargs)
    except assessment.AssessmentError as exc:
        form.add_error(exc.field, str(exc))
        return False
    except lifecycle.WorkflowError as exc:
        form.add_error(None, str(exc))
        return False
    return True


def checked_text(text: str) -> str:
    """A message to the finder as the domain accepts it; its refusal becomes a form error."""
    try:
        messages.check_text(text)
    except lifecycle.WorkflowError as exc:
        raise ValidationError(str(exc)) from None
    return text


class MoveForm(Form):
    move = forms.ChoiceField(label=_("Move the report"))

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report
        cast(forms.ChoiceField, self.fields["move"]).choices = [
            (f"{to}:{resolution}", move_label(report, to, resolution))
            for to, resolution in lifecycle.allowed_moves(report)
        ]

    def save(self, user: User) -> bool:
        to_state, _sep, resolution = self.cleaned_data["move"].partition(":")
        return _save(self, lifecycle.transition, self.report, to_state, user, resolution)


def _verdict(label: _StrPromise, yes: _StrPromise, no: _StrPromise) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=[("", _("Not decided yet")), ("yes", yes), ("no", no)],
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
    )


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


class StaffChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: User) -> str:
        return obj.get_username()


# The CVSS versions the assessment form offers a calculator for, by field prefix.
CVSS_FIELDS = {"3.1": "cvss31", "4.0": "cvss40"}


class AssessmentForm(Form):
    valid = _verdict(ASSESSMENT_LABELS["valid"], _("Valid"), _("Not valid"))
    in_scope = _verdict(ASSESSMENT_LABELS["in_scope"], _("In scope"), _("Out of scope"))
    cvss31_vector = forms.CharField(
        label=ASSESSMENT_LABELS["cvss31_vector"],
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
        ),
    )
    cvss40_vector = forms.CharField(
        label=ASSESSMENT_LABELS["cvss40_vector"], max_length=300, required=False
    )
    cwe = forms.CharField(
        label=ASSESSMENT_LABELS["cwe"],
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "CWE-79"}),
    )
    affected_asset = forms.CharField(
        label=ASSESSMENT_LABELS["affected_asset"], max_length=200, required=False
    )
    assignee = StaffChoiceField(
        label=ASSESSMENT_LABELS["assignee"],
        queryset=assessment.assignable_staff(),
        to_field_name="username",
        required=False,
        empty_label=_("Nobody"),
    )
    expected_fix_date = forms.DateField(
        label=ASSESSMENT_LABELS["expected_fix_date"],
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(
        self, *args: Any, report: Report, initial: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        values = {name: getattr(report, name) for name in assessment.ASSESSMENT_FIELDS}
        values.update(valid=_yes_no(report.valid), in_scope=_yes_no(report.in_scope))
        for version, prefix in CVSS_FIELDS.items():
            chosen = cvss_metrics.base_choices(version, values[f"{prefix}_vector"])
            values.update({f"{prefix}_{key}": value for key, value in chosen.items()})
        super().__init__(*args, initial={**values, **(initial or {})}, **kwargs)
        self.report = report
        # The suggestions cvss.js fills from the catalogue as one types.
        self.fields["cwe"].widget.attrs.update(
            {"list": "cwe-suggestions", "data-cwe-suggest": reverse("triage:cwe_suggest")}
        )
        for version, prefix in CVSS_FIELDS.items():
            for metric in cvss_metrics.BASE[version]:
                self.fields[f"{prefix}_{metric.key}"] = _metric_field(metric)
        for point in ssvc.table().points:
            self.fields[point.field] = _ssvc_field(point)

    def ssvc_fields(self) -> list[forms.BoundField]:
        """The SSVC decision points, laid out as one fieldset."""
        return [self[p.field] for p in ssvc.table().points]

    def metric_groups(self) -> list[tuple[str, forms.BoundField, list[forms.BoundField]]]:
        """Per CVSS version: the vector field and its base metric choices, to lay out."""
        return [
            (version, self[f"{prefix}_vector"], [self[n] for n in self._metric_names(version)])
            for version, prefix in CVSS_FIELDS.items()
        ]

    def plain_fields(self) -> list[forms.BoundField]:
        """The fields outside the CVSS calculators."""
        grouped = {f"{p}_vector" for p in CVSS_FIELDS.values()}
        grouped.update(n for v in CVSS_FIELDS for n in self._metric_names(v))
        grouped.update(ssvc.FIELDS.values())
        return [self[name] for name in self.fields if name not in grouped]

    @staticmethod
    def _metric_names(version: str) -> list[str]:
        return [f"{CVSS_FIELDS[version]}_{m.key}" for m in cvss_metrics.BASE[version]]

    def _checked(self, name: str, check: Callable[[str], str]) -> str:
        value: str = self.cleaned_data[name]
        try:
            return check(value) if value.strip() else ""
        except assessment.AssessmentError as exc:
            raise ValidationError(str(exc)) from None

    def clean_cvss31_vector(self) -> str:
        return self._checked("cvss31_vector", lambda v: assessment.score_cvss31(v).vector)

    def clean_cvss40_vector(self) -> str:
        return self._checked("cvss40_vector", lambda v: assessment.score_cvss40(v).vector)

    def clean_cwe(self) -> str:
        return self._checked("cwe", assessment.clean_cwe)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for version in CVSS_FIELDS:
            self._vector_from_choices(version, cleaned)
        return cleaned

    def _vector_from_choices(self, version: str, cleaned: dict[str, Any]) -> None:
        """Build the vector from the choices when they, not the typed vector, changed.

        A vector pasted without JavaScript leaves the choices as they were: the vector wins.
        With JavaScript both change and agree. Choices left out of the request (a script,
        an older page) are no choice at all.
        """
        name, names = f"{CVSS_FIELDS[version]}_vector", self._metric_names(version)
        posted = [n for n in names if self.add_prefix(n) in self.data]
        if name not in cleaned or not posted or not set(posted) & set(self.changed_data):
            return
        chosen = {n.rpartition("_")[2]: cleaned.get(n, "") for n in names}
        chosen = {key: value for key, value in chosen.items() if value}
        typed = cleaned[name]
        if name in self.changed_data:
            if cvss_metrics.base_choices(version, typed) != chosen:
                self.add_error(name, _vector_conflict(version))
            return
        if not chosen:
            cleaned[name] = ""
            return
        if lacking := cvss_metrics.missing(version, chosen):
            self.add_error(name, _missing_metrics(version, lacking))
            return
        keep = typed or getattr(self.report, name)
        cleaned[name] = self._checked_vector(name, cvss_metrics.build(version, chosen, keep))

    def _checked_vector(self, name: str, vector: str) -> str:
        scorer = assessment.score_cvss31 if name == "cvss31_vector" else assessment.score_cvss40
        try:
            return scorer(vector).vector
        except assessment.AssessmentError as exc:
            self.add_error(name, str(exc))
            return ""

    def save(self, user: User) -> bool:
        fields = {k: v for k, v in self.cleaned_data.items() if k in assessment.ASSESSMENT_FIELDS}
        return _save(self, assessment.assess, self.report, user, **fields)


def _metric_field(metric: cvss_metrics.Metric) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=format_lazy("{} ({})", metric.label, metric.key),
        choices=[("", _("Not chosen")), *metric.values],
        required=False,
        widget=forms.Select(attrs={"data-metric": metric.key}),
    )


def _ssvc_field(point: ssvc.Point) -> forms.ChoiceField:
    # CISA's value names stay in English, as the decisions do: they are SSVC's terms.
    return forms.ChoiceField(
        label=format_lazy("{} ({})", ASSESSMENT_LABELS[point.field], point.key),
        choices=[("", _("Not answered")), *((v.slug, v.name) for v in point.values)],
        required=False,
        error_messages={"invalid_choice": _("Choose one of the listed answers.")},
    )


def _vector_conflict(version: str) -> str:
    return str(
        _(
            "The CVSS %(version)s vector and the metrics chosen below it differ. "
            "Paste a vector or choose the metrics, not both."
        )
        % {"version": version}
    )


def _missing_metrics(version: str, lacking: list[cvss_metrics.Metric]) -> str:
    names = ", ".join(f"{m.label} ({m.key})" for m in lacking)
    return str(
        _("Choose every CVSS %(version)s base metric, or none. Not chosen: %(metrics)s.")
        % {"version": version, "metrics": names}
    )


class TemplateChoiceForm(Form):
    """Which template to start a message from (a GET form: works without JavaScript)."""

    template = forms.ChoiceField(
        label=_("Start from"),
        choices=[("", _("A blank message")), *TemplateKind.choices],
        required=False,
    )


class MessageForm(Form):
    text = TextField(label=_("Message to the finder"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)
    template = forms.ChoiceField(
        choices=[("", ""), *TemplateKind.choices], required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report

    # The finder reads them on the status page; a mail in clear only says how many there are.
    attachments = AttachmentsField(label=_("Attachments"))

    def clean_text(self) -> str:
        return checked_text(self.cleaned_data["text"])

    def _send(self, user: User) -> Message:
        data = self.cleaned_data
        return messages.send_message(
            self.report, user, data["text"], data["template"], files=data["attachments"]
        )

    def save(self, user: User) -> bool:
        try:
            return _save(self, self._send, user)
        except StorageFull:
            self.add_error("attachments", STORAGE_FULL)
            return False


class FirstResponseForm(MessageForm):
    """The first message with the assessment: it stops the clock."""

    after = forms.ChoiceField(
        label=_("After sending"),
        choices=[
            ("triage", _("The report is triaged")),
            ("close", _("Close it as invalid or out of scope")),
        ],
        initial="triage",
        widget=forms.RadioSelect,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "after" in data:
            try:
                messages.check_first_response(self.report, close=data["after"] == "close")
            except lifecycle.WorkflowError as exc:
                raise ValidationError(str(exc)) from None
        return data

    def _send(self, user: User) -> Message:
        data = self.cleaned_data
        return messages.send_first_response(
            self.report,
            user,
            data["text"],
            close=data["after"] == "close",
            template=data["template"],
            files=data["attachments"],
        )


class NeedsInfoForm(Form):
    """Ask the finder for what the report lacks; a received report then waits for them."""

    text = TextField(label=_("Message to the finder"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report

    def clean_text(self) -> str:
        return checked_text(self.cleaned_data["text"])

    def save(self, user: User) -> bool:
        return _save(
            self, messages.ask_for_information, self.report, user, self.cleaned_data["text"]
        )


class DuplicateChoiceForm(Form):
    """Which earlier report this one duplicates: the first step, before the confirmation."""

    original = forms.CharField(
        label=_("Duplicate of report"),
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "MP-2026-0042"}),
    )

    def __init__(self, *args: Any, report: Report, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report

    def clean_original(self) -> Report:
        original = Report.objects.by_reference(self.cleaned_data["original"])
        if original is None:
            raise ValidationError(_("No report has this reference."))
        if original.pk == self.report.pk:
            raise ValidationError(_("A report cannot be a duplicate of itself."))
        return original

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            lifecycle.check_transition(self.report.state, State.CLOSED, Resolution.DUPLICATE)
        except lifecycle.WorkflowError as exc:
            raise ValidationError(str(exc)) from None
        return data


class DuplicateForm(DuplicateChoiceForm):
    """The confirmation: the report is closed and its finder gets the (edited) message."""

    text = TextField(label=_("Message to the finder"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)

    def clean_text(self) -> str:
        return checked_text(self.cleaned_data["text"])

    def save(self, user: User) -> bool:
        data = self.cleaned_data
        return _save(
            self, messages.mark_duplicate, self.report, data["original"], user, data["text"]
        )


class TemplateForm(forms.ModelForm):  # type: ignore[type-arg]
    body = TextField(label=_("Text"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)

    class Meta:
        model = MessageTemplate
        fields = ["body"]

    def clean_body(self) -> str:
        body: str = self.cleaned_data["body"]
        unknown = sorted(set(messages.PLACEHOLDER_RE.findall(body)) - set(messages.PLACEHOLDERS))
        if unknown:
            raise ValidationError(
                _("Unknown placeholders: %(unknown)s. Use only %(known)s.")
                % {
                    "unknown": ", ".join(f"{{{n}}}" for n in unknown),
                    "known": ", ".join(f"{{{n}}}" for n in messages.PLACEHOLDERS),
                }
            )
        return body


class OutboxFilterForm(Form):
    """The outbox page's filter: one delivery state, or all."""

    state = forms.ChoiceField(
        label=_("Delivery state"),
        required=False,
        choices=[("", _("All"))] + [(s, DELIVERY_LABELS[s]) for s in OutboundMail.Status],
    )
