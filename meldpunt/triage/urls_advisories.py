from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import advisories as staff

app_name = "advisories"

urlpatterns: list[URLPattern] = [
    path("", staff.advisory_list, name="list"),
    path("new/<uuid:report_uid>/", staff.start, name="start"),
    path("<uuid:uid>/", staff.detail, name="detail"),
    path("<uuid:uid>/edit/", staff.edit, name="edit"),
    path("<uuid:uid>/cve.json", staff.cve_json, name="cve_json"),
    path("<uuid:uid>/translations/<str:language>/", staff.translate, name="translate"),
    path("<uuid:uid>/reports/", staff.add_report, name="add_report"),
    path("<uuid:uid>/schedule/", staff.schedule, name="schedule"),
    path("<uuid:uid>/schedule/early/", staff.schedule_early, name="schedule_early"),
    path("<uuid:uid>/unschedule/", staff.unschedule, name="unschedule"),
    path("<uuid:uid>/publish/", staff.publish, name="publish"),
]
