from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import webhooks

# Webhook endpoints (administrators only), named by the endpoint's random uid.
urlpatterns: list[URLPattern] = [
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/add/", webhooks.webhook_add, name="webhook_add"),
    path("webhooks/<uuid:uid>/", webhooks.webhook_detail, name="webhook"),
    path("webhooks/<uuid:uid>/test/", webhooks.webhook_test, name="webhook_test"),
    path("webhooks/<uuid:uid>/enable/", webhooks.webhook_enable, name="webhook_enable"),
    path("webhooks/<uuid:uid>/remove/", webhooks.webhook_remove, name="webhook_remove"),
]
