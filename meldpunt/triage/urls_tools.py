from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import bulk, tags

# Tags (defined by admins, put on reports by triagers) and bulk actions from the inbox.
urlpatterns: list[URLPattern] = [
    path("tags/", tags.tag_list, name="tags"),
    path("tags/<uuid:uid>/", tags.tag_edit, name="tag_edit"),
    path("tags/<uuid:uid>/delete/", tags.tag_delete, name="tag_delete"),
    path("reports/<uuid:uid>/tags/", tags.report_tags, name="report_tags"),
    path("bulk/", bulk.bulk_action, name="bulk"),
]
