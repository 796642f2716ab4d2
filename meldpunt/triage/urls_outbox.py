from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import outbox

# Outbound mail and its delivery state, named by the mail's random uid.
urlpatterns: list[URLPattern] = [
    path("outbox/", outbox.outbox_list, name="outbox"),
    path("outbox/<uuid:uid>/resend/", outbox.resend, name="outbox_resend"),
    path("outbox/<uuid:uid>/cancel/", outbox.cancel, name="outbox_cancel"),
]
