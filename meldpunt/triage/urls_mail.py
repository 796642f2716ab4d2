from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import mail

# Mail that did not become a report, named by its random uid.
urlpatterns: list[URLPattern] = [
    path("mail/", mail.mail_list, name="mail_list"),
    path("mail/<uuid:uid>/", mail.mail_detail, name="mail_detail"),
]
