"""Telling a finder that there is news, without saying what it is.

Plain mail crosses servers we do not control, so it carries the reference and the way to
the status page, never report content or message text. (Encrypted mail to finders with a
key, and an outbox with retries, come later.)
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from meldpunt.reports.models import Report

log = logging.getLogger(__name__)


def status_url() -> str:
    return f"{settings.MELDPUNT_BASE_URL}{reverse('portal:status')}"


def news_mail(report: Report, address: str) -> EmailMessage:
    """The notice, in the report's language."""
    values = {
        "reference": report.reference,
        "url": status_url(),
        "organisation": settings.MELDPUNT_ORG_NAME,
    }
    with translation.override(report.language):
        subject = _("[%(reference)s] News about your report") % values
        body = "\n\n".join(
            [
                _("There is news about your report %(reference)s.") % values,
                _("To read it, open %(url)s and enter your receipt code.") % values,
                _(
                    "For your safety this e-mail does not contain the news itself. "
                    "Ignore it if you did not report a vulnerability to %(organisation)s."
                )
                % values,
                _("The %(organisation)s security team") % values,
            ]
        )
    return EmailMessage(
        subject, f"{body}\n", to=[address], headers={"Content-Language": report.language}
    )


def news_for_finder(report: Report) -> bool:
    """Mail the finder a content-free notice, if they left an address; True if it went out."""
    address = str(report.finder.get("email") or "")
    if not address:
        return False
    try:
        news_mail(report, address).send()
    # The news itself is committed already and waits on /status/. Whatever the mail
    # server did, log only the reference: errors can quote the finder's address.
    except Exception as exc:
        log.warning("notice for %s not sent: %s", report.reference, type(exc).__name__)
        return False
    log.info("notice for %s sent", report.reference)
    return True
