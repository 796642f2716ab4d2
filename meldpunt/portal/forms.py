from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from meldpunt import ratelimit
from meldpunt.lib import receipt
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.uploads import AttachmentsField
from meldpunt.reports.models import Credit, Report

INVALID = _("This receipt code is not valid.")


def receipt_limits() -> tuple[ratelimit.Limit, ratelimit.Limit]:
    window = timedelta(minutes=settings.MELDPUNT_RECEIPT_WINDOW_MINUTES)
    return (
        ratelimit.Limit("receipt-client", settings.MELDPUNT_RECEIPT_CLIENT_LIMIT, window),
        ratelimit.Limit("receipt-global", settings.MELDPUNT_RECEIPT_GLOBAL_LIMIT, window),
    )


class ReceiptForm(Form):
    code = forms.CharField(
        label=_("Receipt code"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, client: str = "unknown", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client
        self.report: Report | None = None
        self.rate_limited = False

    def clean_code(self) -> str:
        # Every attempt counts, per client and for the whole site, before the code is looked
        # at; a correct code is refunded. All failures look alike: no enumeration.
        per_client, everyone = receipt_limits()
        if ratelimit.first_refused((per_client, self.client), (everyone, "all")):
            self.rate_limited = True
            raise forms.ValidationError(ratelimit.TOO_MANY_ATTEMPTS, code="rate_limited")
        code = receipt.normalise(self.cleaned_data["code"])
        wanted = receipt.digest(code or "")
        found = Report.objects.filter(receipt_digest=wanted).first()
        if (
            code is None
            or found is None
            or not hmac.compare_digest(bytes(found.receipt_digest), wanted)
        ):
            raise forms.ValidationError(INVALID, code="invalid")
        ratelimit.refund(per_client, self.client)
        ratelimit.refund(everyone, "all")
        self.report = found
        return code


class ReplyForm(Form):
    text = TextField(
        label=_("Your message"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
    )
    attachments = AttachmentsField(label=_("Attachments"))


class CreditForm(Form):
    credit = forms.ChoiceField(
        label=_("How may we credit you?"),
        choices=[
            (Credit.NONE, _("Do not credit me")),
            (Credit.NAME, _("By my name")),
            (Credit.PSEUDONYM, _("By my pseudonym")),
        ],
        widget=forms.RadioSelect,
    )
    name = forms.CharField(label=_("Name or pseudonym"), max_length=200, required=False)


class ErasureForm(Form):
    confirm = forms.BooleanField(
        label=_(
            "Yes, erase my name, e-mail address and OpenPGP key from this report. "
            "I understand that the team can then no longer write to me by e-mail or credit me."
        ),
    )
    # GDPR Art. 17 reaches what was published too; the finder decides, nothing is assumed.
    published_credits = forms.ChoiceField(
        label=_("Your name in published advisories"),
        widget=forms.RadioSelect,
        choices=[
            (
                "remove",
                _("Remove it: publish a new revision without my name, off the hall of fame"),
            ),
            ("keep", _("Keep it as published")),
        ],
    )

    def __init__(self, *args: Any, credited: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credited = credited
        if credited:
            self.fields["published_credits"].help_text = _("You are named in: %(ids)s.") % {
                "ids": ", ".join(credited)
            }
        else:
            del self.fields["published_credits"]

    @property
    def removes_credits(self) -> bool:
        return self.cleaned_data.get("published_credits") == "remove"
