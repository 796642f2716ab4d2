from __future__ import annotations

from django.urls import URLPattern, path

from meldpunt.public import advisories as public
from meldpunt.public import feeds

app_name = "advisories_public"

CSAF = ".well-known/csaf/"
TRANSLATED = f"{CSAF}translations/<str:language>/white/"

urlpatterns: list[URLPattern] = [
    path("advisories/", public.advisory_list, name="list"),
    path("advisories/feed.atom", feeds.AdvisoryFeed(), name="feed"),
    path("advisories/<str:identifier>/", public.advisory_detail, name="detail"),
    path("advisories/<str:identifier>/osv.json", public.osv_json, name="osv"),
    path(
        "advisories/<str:identifier>/<str:language>/",
        public.advisory_translation,
        name="translation",
    ),
    path("hall-of-fame/", public.hall_of_fame, name="hall_of_fame"),
    path(f"{CSAF}", public.csaf_root, name="csaf_root"),
    path(f"{CSAF}provider-metadata.json", public.provider_metadata, name="provider_metadata"),
    path(f"{CSAF}white/", public.csaf_white, name="csaf_white"),
    path(f"{CSAF}white/index.txt", public.index_txt, name="index_txt"),
    path(f"{CSAF}white/changes.csv", public.changes_csv, name="changes_csv"),
    path(f"{CSAF}white/<str:year>/", public.csaf_year, name="csaf_year"),
    path(f"{CSAF}white/<str:year>/<str:name>", public.csaf_file, name="csaf_file"),
    # The translations, one distribution per language (see csaf.distribution).
    path(f"{CSAF}translations/", public.translations_root, name="translations_root"),
    path(
        f"{CSAF}translations/<str:language>/",
        public.translations_language,
        name="translations_language",
    ),
    path(f"{TRANSLATED}", public.csaf_white, name="translation_white"),
    path(f"{TRANSLATED}index.txt", public.index_txt, name="translation_index_txt"),
    path(f"{TRANSLATED}changes.csv", public.changes_csv, name="translation_changes_csv"),
    path(f"{TRANSLATED}<str:year>/", public.csaf_year, name="translation_year"),
    path(f"{TRANSLATED}<str:year>/<str:name>", public.csaf_file, name="translation_file"),
]
