from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.triage import bulk, saved_views, scope, tags

# Tags (defined by admins, put on reports by triagers), bulk actions and saved views.
urlpatterns: list[URLPattern] = [
    path("tags/", tags.tag_list, name="tags"),
    path("tags/<uuid:uid>/", tags.tag_edit, name="tag_edit"),
    path("tags/<uuid:uid>/delete/", tags.tag_delete, name="tag_delete"),
    path("reports/<uuid:uid>/tags/", tags.report_tags, name="report_tags"),
    path("scope/", scope.asset_list, name="scope"),
    path("scope/recheck/", scope.scope_recheck, name="scope_recheck"),
    path("scope/<uuid:uid>/", scope.asset_edit, name="scope_asset"),
    path("scope/<uuid:uid>/delete/", scope.asset_delete, name="scope_asset_delete"),
    path("bulk/", bulk.bulk_action, name="bulk"),
    path("views/", saved_views.view_list, name="views"),
    path("views/<uuid:uid>/", saved_views.view_edit, name="view_edit"),
    path("views/<uuid:uid>/delete/", saved_views.view_delete, name="view_delete"),
]
