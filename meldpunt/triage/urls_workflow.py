from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import cwe_picker, low_value, regulatory
from meldpunt.triage import views_workflow as views

# State changes, assessments and messages to the finder.
urlpatterns: list[URLPattern] = [
    path("reports/<uuid:uid>/move/", views.transition, name="transition"),
    path("reports/<uuid:uid>/assess/", views.assess, name="assess"),
    path("reports/<uuid:uid>/compose/", views.compose, name="compose"),
    path("reports/<uuid:uid>/first-response/", views.first_response, name="first_response"),
    path("reports/<uuid:uid>/ask/", views.ask_information, name="ask_information"),
    path("reports/<uuid:uid>/message/", views.send_message, name="send_message"),
    path("reports/<uuid:uid>/regulatory/", regulatory.set_flags, name="regulatory_flags"),
    path("reports/<uuid:uid>/regulatory/sent/", regulatory.record_sent, name="regulatory_sent"),
    path("reports/<uuid:uid>/duplicate/", views.mark_duplicate, name="mark_duplicate"),
    path("reports/<uuid:uid>/low-value/answer/", low_value.answer, name="low_value_answer"),
    path("reports/<uuid:uid>/low-value/not/", low_value.not_low_value, name="not_low_value"),
    path("low-value-rules/", low_value.rules, name="low_value_rules"),
    path("low-value-rules/new/", low_value.edit_rule, name="low_value_rule_new"),
    path("low-value-rules/<slug:slug>/", low_value.edit_rule, name="low_value_rule"),
    path("cwe/", cwe_picker.cwe_search, name="cwe_search"),
    path("cwe/suggest.json", cwe_picker.cwe_suggest, name="cwe_suggest"),
    path("templates/", views.templates, name="templates"),
    path("templates/<slug:kind>/<slug:language>/", views.edit_template, name="edit_template"),
]
