from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core import signing
from django.http import QueryDict
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from meldpunt import ratelimit
from meldpunt.intake import proof_of_work
from meldpunt.lib.forms import Form, TextField
from meldpunt.lib.pgp import KeyProblem, check_public_key
from meldpunt.lib.targets import Target, TargetError, parse_target
from meldpunt.lib.uploads import AttachmentsField
from meldpunt.policy.commitments import CATEGORIES, OUT_OF_SCOPE, version_by_number
from meldpunt.policy.models import PolicyVersion
from meldpunt.reports.models import Channel, Credit
from meldpunt.reports.services import NewReport

# A signing salt (a namespace), not a secret.
TOKEN_SALT = "meldpunt.intake.submission"  # noqa: S105  # nosec B105
MAX_TARGETS = 50
KEY_PROBLEMS = {
    "too_large": _("This key is too large."),
    "unreadable": _("This is not an OpenPGP public key we can read."),
    "several": _("Paste exactly one public key."),
    "secret": _(
        "This contains a SECRET key. Never share it: paste only your public key, "
        "and consider this secret key compromised."
    ),
    "revoked": _("This key has been revoked."),
    "expired": _("This key has expired."),
    "no_encryption": _("We cannot encrypt to this key (no usable encryption subkey)."),
}
YES_NO_UNKNOWN = [("unknown", _("I don't know")), ("no", _("No")), ("yes", _("Yes"))]


# The token's seed derives the report's receipt code, so a token must be worth nothing
# outside the browser that fetched the form: it names that browser by a keyed hash of
# its CSRF cookie. A copied token (a saved page, a shared computer, a proxy's log) posted
# from another browser is refused like an expired one, and never shows a receipt.


def _browser_tag(browser: str) -> str:
    return salted_hmac(TOKEN_SALT, browser, algorithm="sha256").hexdigest()


def new_submission_token(browser: str) -> str:
    payload = {"seed": secrets.token_hex(16), "browser": _browser_tag(browser)}
    return signing.dumps(payload, salt=TOKEN_SALT)


def submission_seed(token: str, browser: str) -> bytes | None:
    """The token's seed, if it is genuine, not expired and was handed to this browser."""
    max_age = settings.MELDPUNT_FORM_MAX_AGE_HOURS * 3600
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=max_age)
        if not constant_time_compare(str(payload["browser"]), _browser_tag(browser)):
            return None
        return bytes.fromhex(payload["seed"])
    except (signing.BadSignature, ValueError, TypeError, KeyError):
        return None


def _category_choices() -> list[tuple[Any, Any]]:
    choices: list[tuple[Any, Any]] = [("", _("Choose a category"))]
    in_scope = [(c, label) for c, label, oos in CATEGORIES if not oos]
    out = [(c, label) for c, label, oos in CATEGORIES if oos]
    return [*choices, (_("In scope"), in_scope), (_("Out of scope under our policy"), out)]


class ReportForm(Form):
    affected_systems = TextField(
        label=_("Affected system(s)"),
        help_text=_("One per line: a URL, a host name or an IP address."),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        max_length=20_000,
    )
    category = forms.ChoiceField(
        label=_("Kind of vulnerability"),
        choices=_category_choices,
        # For report.js, which shows the out-of-scope note only for these.
        widget=forms.Select(attrs={"data-out-of-scope": " ".join(OUT_OF_SCOPE)}),
    )
    confirm_out_of_scope = forms.BooleanField(
        label=_("I understand this category is out of scope and want to report it anyway."),
        required=False,
    )
    description = TextField(label=_("Description"), max_length=settings.MELDPUNT_MAX_TEXT_CHARS)
    steps = TextField(
        label=_("Steps to reproduce"),
        required=False,
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
    )
    impact = TextField(
        label=_("Impact"),
        required=False,
        max_length=settings.MELDPUNT_MAX_TEXT_CHARS,
    )
    attachments = AttachmentsField(label=_("Attachments"))
    exploited = forms.ChoiceField(
        label=_("Is this vulnerability known to be exploited?"),
        choices=YES_NO_UNKNOWN,
        initial="unknown",
    )
    already_public = forms.ChoiceField(
        label=_("Is it already public?"), choices=YES_NO_UNKNOWN, initial="unknown"
    )
    references = TextField(
        label=_("References"),
        help_text=_("Links to public information or exploitation, one per line."),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        required=False,
        max_length=10_000,
    )
    disclosure_date = forms.DateField(
        label=_("Do you plan to disclose this yourself? On which date?"),
        help_text=_("Leave empty if you have no plans. Format: YYYY-MM-DD."),
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
    )
    csirt_notified = forms.ChoiceField(
        label=_("Did you also notify the national CSIRT?"),
        choices=[("no", _("No")), ("yes", _("Yes")), ("planned", _("Not yet, but I will"))],
        initial="no",
    )
    name = forms.CharField(label=_("Name or pseudonym"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail address"), required=False)
    pgp_key = TextField(
        label=_("Your OpenPGP public key"),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        required=False,
        max_length=70_000,
    )
    credit = forms.ChoiceField(
        label=_("How may we credit you?"),
        choices=[
            (Credit.NONE, _("Do not credit me")),
            (Credit.NAME, _("By my name")),
            (Credit.PSEUDONYM, _("By my pseudonym")),
        ],
        initial=Credit.NONE,
        widget=forms.RadioSelect,
    )
    accept_policy = forms.BooleanField(
        label=_("I have followed the rules of the disclosure policy and accept them."),
    )
    policy_version = forms.IntegerField(widget=forms.HiddenInput)
    submission_token = forms.CharField(widget=forms.HiddenInput)
    # The proof-of-work solution the page's script fills in (when that is switched on).
    altcha = forms.CharField(widget=forms.HiddenInput, required=False, max_length=2000)

    def __init__(
        self, *args: Any, client: str = "unknown", browser: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # client: the network address, for rate limits; browser: its CSRF cookie's secret.
        self.client, self.browser = client, browser
        self.fields["csirt_notified"].label = _(
            "Did you also notify the national CSIRT (%(csirt)s)?"
        ) % {"csirt": settings.MELDPUNT_NATIONAL_CSIRT}
        self.fields["attachments"].help_text = _("At most %(count)d files of %(size)s MB each.") % {
            "count": settings.MELDPUNT_MAX_ATTACHMENTS,
            "size": f"{settings.MELDPUNT_MAX_ATTACHMENT_BYTES / 1024 / 1024:g}",
        }

    def clean_affected_systems(self) -> list[Target]:
        lines = [ln for ln in self.cleaned_data["affected_systems"].splitlines() if ln.strip()]
        if not lines:
            raise forms.ValidationError(_("Name at least one affected system."))
        if len(lines) > MAX_TARGETS:
            raise forms.ValidationError(_("Name at most %(n)d systems.") % {"n": MAX_TARGETS})
        targets, bad = [], []
        for line in lines:
            try:
                targets.append(parse_target(line))
            except TargetError:
                bad.append(line.strip()[:80])
        if bad:
            raise forms.ValidationError(
                _("Not a URL, host name or IP address: %(lines)s") % {"lines": ", ".join(bad)}
            )
        return targets

    def clean_references(self) -> list[str]:
        lines = [ln.strip() for ln in self.cleaned_data["references"].splitlines() if ln.strip()]
        bad = [ln[:80] for ln in lines if urlsplit(ln).scheme not in {"http", "https"}]
        if bad:
            raise forms.ValidationError(
                _("Give references as http(s) links: %(lines)s") % {"lines": ", ".join(bad)}
            )
        return lines

    def clean_disclosure_date(self) -> date | None:
        value: date | None = self.cleaned_data["disclosure_date"]
        if value and value < timezone.localdate():
            raise forms.ValidationError(_("This date is in the past."))
        return value

    def clean_pgp_key(self) -> str:
        text: str = self.cleaned_data["pgp_key"]
        if not text.strip():
            return ""
        try:
            return check_public_key(text).armored
        except KeyProblem as problem:
            raise forms.ValidationError(KEY_PROBLEMS[str(problem)]) from problem

    def clean_policy_version(self) -> PolicyVersion:
        version = version_by_number(self.cleaned_data["policy_version"])
        if version is None:
            raise forms.ValidationError(_("Unknown policy version; reload the policy page."))
        return version

    def clean_submission_token(self) -> bytes:
        seed = submission_seed(self.cleaned_data["submission_token"], self.browser)
        if seed is None:
            self._renew_token()
            raise forms.ValidationError(_("This form has expired. Please submit it again."))
        return seed

    def already_sent(self) -> None:
        """The form was sent before, longer ago than we show its receipt again for."""
        self._renew_token()
        self.add_error(
            "submission_token",
            _("This form was already sent. Submit again only if this is a new report."),
        )

    def _proof_of_work_or_few(self) -> bool:
        """A solved challenge, or one of the few reports a client may send without one."""
        if proof_of_work.solved(self.cleaned_data.get("altcha", "")):
            return True
        return ratelimit.hit(nopow_limit(), self.client)

    def unavailable(self) -> None:
        """Storing failed (the database is down): nothing was stored, everything typed is kept."""
        self.add_error(
            None,
            forms.ValidationError(
                _(
                    "We could not store your report just now, and nothing was stored. "
                    "Everything you typed is still here (attach files again): please send "
                    "it again in a few minutes."
                ),
                code="unavailable",
            ),
        )

    def storage_full(self) -> None:
        """No room for attachments now: nothing was stored, everything typed is kept."""
        self.add_error(
            "attachments",
            forms.ValidationError(
                _(
                    "We cannot store attachments right now (our storage is full), and "
                    "nothing was stored. Send your report without them, or try again later."
                ),
                code="storage_full",
            ),
        )

    def _renew_token(self) -> None:
        """Hand out a fresh token so the next submit works; everything typed is kept."""
        data = QueryDict(mutable=True)
        data.update(self.data)
        data["submission_token"] = new_submission_token(self.browser)
        self.data = data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        category = cleaned.get("category")
        if category in OUT_OF_SCOPE and not cleaned.get("confirm_out_of_scope"):
            self.add_error(
                "category",
                _(
                    "Our policy excludes this kind of finding. Tick the box below if you "
                    "still want to send it; we will read it, but may not act on it."
                ),
            )
        credit = cleaned.get("credit")
        if credit in {Credit.NAME, Credit.PSEUDONYM} and not cleaned.get("name", "").strip():
            self.add_error("name", _("Tell us the name or pseudonym to credit."))
        if not self.errors and proof_of_work.enabled() and not self._proof_of_work_or_few():
            raise forms.ValidationError(
                _(
                    "Too many reports from your network without the browser check. "
                    "Switch JavaScript on for this page, or try again later."
                ),
                code="rate_limited",
            )
        if not self.errors:
            self._count_submission()
        return cleaned

    def _count_submission(self) -> None:
        everyone = global_submit_limit()
        refused = ratelimit.first_refused((submit_limit(), self.client), (everyone, "all"))
        if refused is everyone:
            raise forms.ValidationError(
                _("We receive an unusual number of reports right now. Please try again later."),
                code="rate_limited",
            )
        if refused is not None:
            raise forms.ValidationError(
                _("Too many reports from your network. Please try again later."),
                code="rate_limited",
            )

    def new_report(self, language: str) -> NewReport:
        d = self.cleaned_data
        targets: list[Target] = d["affected_systems"]
        return NewReport(
            channel=Channel.WEB,
            language=language,
            policy_version=d["policy_version"],
            category=d["category"],
            out_of_scope=d["category"] in OUT_OF_SCOPE,
            targets=targets,
            content={
                "affected_systems": [t.text for t in targets],
                "description": d["description"],
                "steps": d["steps"],
                "impact": d["impact"],
                "exploited": d["exploited"],
                "already_public": d["already_public"],
                "references": d["references"],
                "csirt_notified": d["csirt_notified"],
            },
            finder={"name": d["name"].strip(), "email": d["email"], "pgp_key": d["pgp_key"]},
            credit=d["credit"],
            finder_disclosure_date=d["disclosure_date"],
            files=d["attachments"],
            submission_seed=d["submission_token"],
        )


def submit_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "submit",
        settings.MELDPUNT_SUBMIT_CLIENT_LIMIT,
        timedelta(minutes=settings.MELDPUNT_SUBMIT_WINDOW_MINUTES),
    )


def nopow_limit() -> ratelimit.Limit:
    return ratelimit.Limit(
        "submit-nopow",
        settings.MELDPUNT_SUBMIT_NOPOW_LIMIT,
        timedelta(minutes=settings.MELDPUNT_SUBMIT_WINDOW_MINUTES),
    )


def global_submit_limit() -> ratelimit.Limit:
    # Counted only for submissions that passed the per-client limit, so one flooding
    # client cannot use up everyone's share.
    return ratelimit.Limit(
        "submit-global",
        settings.MELDPUNT_SUBMIT_GLOBAL_LIMIT,
        timedelta(minutes=settings.MELDPUNT_SUBMIT_WINDOW_MINUTES),
    )
