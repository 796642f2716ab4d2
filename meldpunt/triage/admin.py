"""A read-only view of reports, decrypted, in Django's admin, beside the triage desk.

Django's admin escapes every value these methods return.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from meldpunt.audit.actors import staff
from meldpunt.audit.log import append as audit
from meldpunt.reports.models import Attachment, Event, Message, Report


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(ReadOnlyInline):
    model = Event
    fields = ("created_at", "kind", "actor", "data")
    readonly_fields = fields


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("created_at", "author", "text")
    readonly_fields = fields

    @admin.display(description="text")
    def text(self, obj: Message) -> str:
        return str(obj.body.get("text", ""))


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ("created_at", "file_name", "content_type", "size")
    readonly_fields = fields

    @admin.display(description="file name")
    def file_name(self, obj: Attachment) -> str:
        return str(obj.meta.get("name", ""))

    @admin.display(description="content type")
    def content_type(self, obj: Attachment) -> str:
        return str(obj.meta.get("content_type", ""))


CONTENT_FIELDS = [
    "affected_systems",
    "description",
    "steps",
    "impact",
    "exploited",
    "already_public",
    "references",
    "csirt_notified",
]
FINDER_FIELDS = ["finder_name", "finder_email", "finder_pgp_key"]


def _content(name: str) -> Any:
    def show(self: Any, obj: Report) -> str:
        value = obj.content.get(name, "")
        return "\n".join(value) if isinstance(value, list) else str(value)

    show.short_description = name.replace("_", " ")  # type: ignore[attr-defined]
    return show


def _finder(name: str) -> Any:
    def show(self: Any, obj: Report) -> str:
        return str(obj.finder.get(name, ""))

    show.short_description = f"finder {name.replace('_', ' ')}"  # type: ignore[attr-defined]
    return show


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "reference",
        "created_at",
        "state",
        "category",
        "out_of_scope",
        "response_due_at",
    ]
    list_filter = ["state", "out_of_scope", "category"]
    search_fields = ["reference"]
    inlines = [EventInline, MessageInline, AttachmentInline]
    fields: ClassVar[tuple[str, ...]] = (
        "reference",
        "created_at",
        "state",
        "channel",
        "category",
        "out_of_scope",
        "language",
        "policy_version",
        "credit",
        "response_due_at",
        "finder_disclosure_date",
        *CONTENT_FIELDS,
        *FINDER_FIELDS,
    )
    readonly_fields = fields

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        report = self.get_object(request, object_id)
        if report is not None:
            audit("report_viewed", staff(request.user), report.reference, via="admin")
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


for _name in CONTENT_FIELDS:
    setattr(ReportAdmin, _name, _content(_name))
for _name in ("name", "email", "pgp_key"):
    setattr(ReportAdmin, f"finder_{_name}", _finder(_name))
