"""/advisories/feed.atom: one entry per published advisory, updated with its latest revision.

The entry is in the advisory's own language; its translations are links of the entry
(alternate, with hreflang), not entries of their own: one advisory, one entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import gettext as _

from meldpunt.public.advisories import MAX_AGE, Published, published_advisories


class AtomWithCsaf(Atom1Feed):
    """Atom, with a link to each entry's CSAF document beside the one to its page."""

    def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, item)
        handler.addQuickElement(
            "link", "", {"rel": "alternate", "type": "application/json", "href": item["csaf"]}
        )
        for language, page, document in item["translations"]:
            for kind, href in (("text/html", page), ("application/json", document)):
                attrs = {"rel": "alternate", "type": kind, "hreflang": language, "href": href}
                handler.addQuickElement("link", "", attrs)


class AdvisoryFeed(Feed[Published, None]):
    feed_type = AtomWithCsaf

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        response = super().__call__(request, *args, **kwargs)
        patch_cache_control(response, public=True, max_age=MAX_AGE)
        return response

    def title(self) -> str:
        return _("Security advisories of %(org)s") % {"org": settings.MELDPUNT_ORG_NAME}

    def link(self) -> str:
        return f"{settings.MELDPUNT_BASE_URL}{reverse('advisories_public:list')}"

    def feed_url(self) -> str:
        return f"{settings.MELDPUNT_BASE_URL}{reverse('advisories_public:feed')}"

    def author_name(self) -> str:
        return str(settings.MELDPUNT_ORG_NAME)

    def items(self) -> list[Published]:
        return published_advisories()

    def item_title(self, item: Published) -> str:
        return f"{item.advisory.identifier}: {item.content['title']}"

    def item_description(self, item: Published) -> str:
        # Atom1Feed labels the summary as HTML; escaped, the finder's text stays text.
        return escape(item.content.get("summary", ""))

    def item_link(self, item: Published) -> str:
        path = reverse("advisories_public:detail", args=[item.advisory.identifier])
        return f"{settings.MELDPUNT_BASE_URL}{path}"

    def item_pubdate(self, item: Published) -> datetime:
        return item.first.published_at

    def item_updateddate(self, item: Published) -> datetime:
        return item.latest.published_at

    def item_extra_kwargs(self, item: Published) -> dict[str, Any]:
        base = settings.MELDPUNT_BASE_URL
        return {
            "csaf": f"{base}{item.csaf_href}",
            "translations": [
                (code, f"{base}{item.page_href(code)}", f"{base}{item.csaf_href_in(code)}")
                for code in item.translations
            ],
        }
