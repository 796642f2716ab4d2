"""What the world reads of published advisories: pages, the CSAF provider tree, the hall of fame.

Only advisories in status "published" with at least one revision exist here; drafts and
scheduled advisories answer 404 like unknown ones. Everything shown comes from the
stored revisions (in clear), never from the sealed draft.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pysequoia
from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_safe

from meldpunt.advisories import csaf, exports, publishing
from meldpunt.advisories.models import Advisory, AdvisoryRevision
from meldpunt.policy import keys
from meldpunt.reports import assessment, lifecycle
from meldpunt.reports.assessment import Score
from meldpunt.reports.models import Credit, Event, Report, Resolution, State

TRANSLATION_DIR = "advisories_public:translation_white"
# Short, so that a new revision reaches readers and aggregators within minutes.
MAX_AGE = 300


@dataclass
class Published:
    """A published advisory with its revisions, oldest first (never empty)."""

    advisory: Advisory
    revisions: list[AdvisoryRevision]

    @property
    def first(self) -> AdvisoryRevision:
        return self.revisions[0]

    @property
    def latest(self) -> AdvisoryRevision:
        return self.revisions[-1]

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.latest.content)

    @property
    def tracking(self) -> dict[str, Any]:
        return dict(self.latest.csaf["document"]["tracking"])

    @property
    def path(self) -> str:
        """<year>/<file>.json under the TLP:WHITE directory, from the stored document."""
        return csaf.relative_path(self.advisory.identifier, self.tracking["initial_release_date"])

    @cached_property
    def data(self) -> bytes:
        return csaf.serialize(self.latest.csaf)

    @property
    def csaf_href(self) -> str:
        year, name = self.path.split("/")
        return reverse("advisories_public:csaf_file", args=[year, name])

    @property
    def translations(self) -> list[str]:
        """The languages the latest revision is translated into, in the site's order."""
        published = self.latest.translations or {}
        return [code for code in publishing.site_languages() if code in published]

    def languages(self) -> list[str]:
        """The primary language first, then the translations."""
        return [self.advisory.language, *self.translations]

    def content_in(self, language: str) -> dict[str, Any]:
        return publishing.in_language(self.content, language, self.advisory.language)

    def data_in(self, language: str) -> bytes:
        """The served bytes of the document in this language (a translation's, if not primary)."""
        if language in ("", self.advisory.language):
            return self.data
        return csaf.serialize(self.latest.translations[language])

    def csaf_href_in(self, language: str) -> str:
        if language in ("", self.advisory.language):
            return self.csaf_href
        year, name = self.path.split("/")
        return reverse("advisories_public:translation_file", args=[language, year, name])

    def page_href(self, language: str) -> str:
        if language in ("", self.advisory.language):
            return reverse("advisories_public:detail", args=[self.advisory.identifier])
        return reverse("advisories_public:translation", args=[self.advisory.identifier, language])

    @cached_property
    def scores(self) -> list[Score]:
        """The advisory's CVSS scores, the one that decides its severity first."""
        content = self.content
        return assessment.scores(
            str(content.get("cvss31_vector") or ""), str(content.get("cvss40_vector") or "")
        )

    @property
    def severity(self) -> Score | None:
        return self.scores[0] if self.scores else None

    @property
    def secondary(self) -> Score | None:
        return self.scores[1] if len(self.scores) > 1 else None


def _published() -> QuerySet[Advisory]:
    revisions = Prefetch("revisions", queryset=AdvisoryRevision.objects.order_by("number"))
    return Advisory.objects.filter(status=Advisory.Status.PUBLISHED).prefetch_related(revisions)


def published_advisories() -> list[Published]:
    """Every published advisory, the most recently first published first."""
    items = [Published(a, list(a.revisions.all())) for a in _published()]
    items = [p for p in items if p.revisions]
    items.sort(key=lambda p: (p.first.published_at, p.advisory.identifier), reverse=True)
    return items


def get_published(identifier: str) -> Published:
    """The published advisory with this identifier; 404 for unknown and unpublished alike."""
    advisory = _published().filter(identifier=identifier).first()
    revisions = list(advisory.revisions.all()) if advisory else []
    if advisory is None or not revisions:
        raise Http404
    return Published(advisory, revisions)


def _cached(response: HttpResponse, cross_origin: bool = False) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    if cross_origin:
        # Aggregators and browser-based CSAF viewers read the tree from other origins.
        response["Access-Control-Allow-Origin"] = "*"
        response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    # Not public: the page carries the language form's CSRF cookie, which no shared cache may keep.
    response = render(request, template, context)
    patch_cache_control(response, private=True, max_age=MAX_AGE)
    return response


# --- Pages -------------------------------------------------------------------------


@require_safe
def advisory_list(request: HttpRequest) -> HttpResponse:
    return _page(request, "advisories/public_list.html", {"items": published_advisories()})


@require_safe
def advisory_detail(request: HttpRequest, identifier: str) -> HttpResponse:
    item = get_published(identifier)
    return _detail(request, item, item.advisory.language)


@require_safe
def advisory_translation(request: HttpRequest, identifier: str, language: str) -> HttpResponse:
    item = get_published(identifier)
    if language == item.advisory.language:
        return HttpResponsePermanentRedirect(item.page_href(language))
    if language not in item.translations:
        raise Http404
    return _detail(request, item, language)


def _detail(request: HttpRequest, item: Published, language: str) -> HttpResponse:
    """The advisory's page in one of the languages it was published in."""
    content = item.content_in(language)
    cwe = str(content.get("cwe") or "")
    base = settings.MELDPUNT_BASE_URL
    context = {
        "item": item,
        "advisory": item.advisory,
        "lang": language,
        "content": content,
        "csaf_href": item.csaf_href_in(language),
        "osv_href": (
            reverse("advisories_public:osv", args=[item.advisory.identifier])
            if exports.has_packages(item.content)
            else ""
        ),
        # Every language, this one included (hreflang wants the whole set on each page).
        "alternates": [
            {"lang": code, "href": item.page_href(code), "url": f"{base}{item.page_href(code)}"}
            for code in item.languages()
        ],
        "credits": item.latest.credits,
        "revisions": item.revisions,
        "cwe_name": csaf.cwe_name(cwe) if cwe else "",
        # Only web links are links: a stored "javascript:" URL must stay inert text.
        "references": [
            (url, str(url).startswith(("https://", "http://")))
            for url in content.get("references", [])
        ],
    }
    return _page(request, "advisories/public_detail.html", context)


@require_safe
def osv_json(request: HttpRequest, identifier: str) -> HttpResponse:
    """The OSV document of a published advisory about packages; 404 for any other."""
    item = get_published(identifier)
    document = exports.osv_document(item.advisory, item.revisions)
    if document is None:
        raise Http404
    response = HttpResponse(csaf.serialize(document), content_type="application/json")
    return _cached(response, cross_origin=True)


# --- CSAF provider tree (CSAF 2.0 section 7) -----------------------------------------


def _last_updated(items: list[Published]) -> datetime:
    if not items:
        return timezone.now().replace(microsecond=0)
    return max(p.latest.published_at for p in items)


@require_safe
def provider_metadata(request: HttpRequest) -> HttpResponse:
    base = settings.MELDPUNT_BASE_URL
    items = published_advisories()
    metadata: dict[str, Any] = {
        "canonical_url": f"{base}{reverse('advisories_public:provider_metadata')}",
        "distributions": [
            {"directory_url": f"{base}{reverse('advisories_public:csaf_white')}"},
            # Each language with a published translation: a distribution of its own.
            *(
                {"directory_url": f"{base}{reverse(TRANSLATION_DIR, args=[code])}"}
                for code in _translated_languages(items)
            ),
        ],
        "last_updated": _last_updated(items).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "list_on_CSAF_aggregators": True,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": True,
        "public_openpgp_keys": [],
        "publisher": {
            "category": "vendor",
            "name": settings.MELDPUNT_ORG_NAME,
            "namespace": base,
            "contact_details": f"mailto:{settings.MELDPUNT_SECURITY_CONTACT}",
        },
        # A provider: directory listings, index.txt and changes.csv (requirements 11-14).
        "role": "csaf_provider",
    }
    try:
        metadata["public_openpgp_keys"] = [
            {"fingerprint": keys.fingerprint(), "url": f"{base}{reverse('pgp_key')}"}
        ]
    except keys.NoOrgKey:
        del metadata["public_openpgp_keys"]
    return _cached(JsonResponse(metadata, json_dumps_params={"indent": 2}), cross_origin=True)


_signatures: dict[tuple[str, str], bytes] = {}
_signatures_lock = threading.Lock()


def detached_signature(data: bytes) -> bytes:
    """An armored detached signature by the organisation key, made once per document and key."""
    key = keys.primary()
    slot = (hashlib.sha256(data).hexdigest(), key.fingerprint)
    with _signatures_lock:
        signature = _signatures.get(slot)
    if signature is None:
        signature = bytes(
            pysequoia.sign(key.tsk.signer(), data, mode=pysequoia.SignatureMode.DETACHED)
        )
        with _signatures_lock:
            if len(_signatures) > 1000:  # a bound, not a policy: a few per advisory
                _signatures.clear()
            _signatures[slot] = signature
    return signature


def _find_by_path(year: str, name: str, language: str = "") -> Published:
    identifier = name.removesuffix(".json")
    advisory = _published().filter(identifier__iexact=identifier).first()
    if advisory is None:
        raise Http404
    item = get_published(advisory.identifier)
    if item.path != f"{year}/{name}" or (language and language not in item.translations):
        raise Http404
    return item


def _in_distribution(language: str) -> list[Published]:
    """The published advisories in the primary distribution, or translated into `language`."""
    if language and language not in publishing.site_languages():
        raise Http404
    items = published_advisories()
    return [p for p in items if language in p.translations] if language else items


def _directory(language: str) -> str:
    return f"/.well-known/csaf/{csaf.distribution(language)}/"


FILE_RE = re.compile(r"(?P<name>[^/]+\.json)(?P<suffix>\.sha256|\.sha512|\.asc)?")


@require_safe
def csaf_file(request: HttpRequest, year: str, name: str, language: str = "") -> HttpResponse:
    """<file>.json, and beside it .json.sha256, .json.sha512 and .json.asc (7.1.18-19)."""
    match = FILE_RE.fullmatch(name)
    if match is None or (language and language not in publishing.site_languages()):
        raise Http404
    item = _find_by_path(year, match["name"], language)
    data = item.data_in(language)
    suffix = match["suffix"]
    if suffix is None:
        response = HttpResponse(data, content_type="application/json")
    elif suffix == ".asc":
        try:
            signature = detached_signature(data)
        except keys.NoOrgKey as exc:
            raise Http404 from exc
        response = HttpResponse(signature, content_type="application/pgp-signature")
    else:
        # The format of sha256sum and sha512sum, so that `sha256sum -c` checks a download.
        digest = hashlib.new(suffix[1:], data).hexdigest()
        response = HttpResponse(
            f"{digest}  {match['name']}\n", content_type="text/plain; charset=utf-8"
        )
    return _cached(response, cross_origin=True)


def _text(body: str, content_type: str = "text/plain; charset=utf-8") -> HttpResponse:
    return _cached(HttpResponse(body, content_type=content_type), cross_origin=True)


@require_safe
def index_txt(request: HttpRequest, language: str = "") -> HttpResponse:
    return _text("".join(f"{p.path}\n" for p in _in_distribution(language)))


@require_safe
def changes_csv(request: HttpRequest, language: str = "") -> HttpResponse:
    # CSAF 2.0 7.1.13: "path","current_release_date", the most recent change first.
    # A translation is published with its primary document: the same dates.
    items = sorted(
        _in_distribution(language), key=lambda p: p.tracking["current_release_date"], reverse=True
    )
    rows = "".join(f'"{p.path}","{p.tracking["current_release_date"]}"\n' for p in items)
    return _text(rows, "text/csv; charset=utf-8")


def _listing(title: str, entries: list[str]) -> HttpResponse:
    # Requirement 14: directory listings, for people browsing the tree by hand.
    links = format_html_join("\n", '<li><a href="{}">{}</a></li>', ((e, e) for e in entries))
    body = format_html(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{}</title></head>'
        "<body><h1>{}</h1><ul>\n{}\n</ul></body></html>\n",
        title,
        title,
        links,
    )
    return _text(body, "text/html; charset=utf-8")


def _translated_languages(items: list[Published] | None = None) -> list[str]:
    """The languages with at least one published translation, in the site's order."""
    items = published_advisories() if items is None else items
    return [c for c in publishing.site_languages() if any(c in p.translations for p in items)]


@require_safe
def csaf_root(request: HttpRequest) -> HttpResponse:
    entries = ["provider-metadata.json", f"{csaf.WHITE_DIR}/"]
    if _translated_languages():
        entries.append("translations/")
    return _listing("/.well-known/csaf/", entries)


@require_safe
def translations_root(request: HttpRequest) -> HttpResponse:
    languages = _translated_languages()
    if not languages:
        raise Http404
    return _listing("/.well-known/csaf/translations/", [f"{code}/" for code in languages])


@require_safe
def translations_language(request: HttpRequest, language: str) -> HttpResponse:
    if language not in _translated_languages():
        raise Http404
    return _listing(f"/.well-known/csaf/translations/{language}/", [f"{csaf.WHITE_DIR}/"])


@require_safe
def csaf_white(request: HttpRequest, language: str = "") -> HttpResponse:
    years = sorted({p.path.split("/")[0] for p in _in_distribution(language)}, reverse=True)
    return _listing(_directory(language), ["index.txt", "changes.csv", *(f"{y}/" for y in years)])


@require_safe
def csaf_year(request: HttpRequest, year: str, language: str = "") -> HttpResponse:
    items = _in_distribution(language)
    names = sorted(p.path.split("/")[1] for p in items if p.path[:4] == year)
    if not names:
        raise Http404
    files = [f"{n}{s}" for n in names for s in ("", ".asc", ".sha256", ".sha512")]
    return _listing(f"{_directory(language)}{year}/", files)


# --- Hall of fame --------------------------------------------------------------------


def _withdrawn_names(advisory: Advisory) -> set[str]:
    """Names of this advisory's finders who chose "no credit" after it was printed."""
    # The printed line is the name with its spaces collapsed (publishing.credit_line).
    names = set()
    credited = (c for r in advisory.reports.all() for c in lifecycle.credited_reports(r))
    for report in credited:
        name = " ".join(str(report.finder.get("name") or "").split())
        if report.credit == Credit.NONE and name:
            names.add(name.casefold())
    return names


def _fixed_year(report: Report) -> int:
    events = Event.objects.filter(report=report)
    event = events.filter(data__to=State.FIXED).order_by("-created_at").first()
    event = event or events.filter(data__to=State.CLOSED).order_by("-created_at").first()
    moment = event.created_at if event else report.created_at
    return timezone.localtime(moment).year


def hall_of_fame_by_year() -> list[tuple[int, list[str]]]:
    """Credited finders per year, newest year first, names deduplicated and sorted."""
    years: dict[int, set[str]] = defaultdict(set)
    for item in published_advisories():
        withdrawn = _withdrawn_names(item.advisory)
        year = timezone.localtime(item.first.published_at).year
        for line in item.latest.credits:
            if str(line).strip() and str(line).strip().casefold() not in withdrawn:
                years[year].add(str(line).strip())
    done = Q(state__in=[State.FIXED, State.PUBLISHED]) | Q(
        state=State.CLOSED, resolution=Resolution.RESOLVED
    )
    named = [Credit.NAME, Credit.PSEUDONYM]
    # A finished report credits its finder, and (as the policy sets) its duplicates' finders.
    reports = (
        Report.objects.filter(done)
        .filter(Q(credit__in=named) | Q(duplicates__isnull=False))
        .exclude(advisories__status=Advisory.Status.PUBLISHED)
        .distinct()
    )
    for report in reports:
        for credited in lifecycle.credited_reports(report):
            name = " ".join(str(credited.finder.get("name") or "").split())  # as printed
            if credited.credit in named and name:
                years[_fixed_year(report)].add(name)
    return [(year, sorted(years[year], key=str.casefold)) for year in sorted(years, reverse=True)]


@require_safe
def hall_of_fame(request: HttpRequest) -> HttpResponse:
    return _page(request, "advisories/hall_of_fame.html", {"years": hall_of_fame_by_year()})
