from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import custody, detail, inbox

# The inbox and the report pages. Reports and files are named by their random uid.
urlpatterns: list[URLPattern] = [
    path("", inbox.inbox, name="inbox"),
    path("reports/<uuid:uid>/", detail.report_detail, name="report"),
    path("reports/<uuid:uid>/notes/", detail.add_note, name="add_note"),
    path("reports/<uuid:uid>/hold/", custody.legal_hold, name="legal_hold"),
    path(
        "reports/<uuid:uid>/attachments/<uuid:att_uid>/",
        detail.download,
        name="attachment",
    ),
]
