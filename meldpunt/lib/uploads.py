"""Multiple-file upload field with the count and size limits from settings."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, SkipFile
from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from meldpunt.lib.chunks import SealingSpool


@dataclass
class IncomingFile:
    """A file as it came in (web form or mail), before it is sealed and stored.

    Either its data, or (a web upload for the database store) its pieces, sealed while the
    upload came in under the name uid gave them (see SealingUploadHandler).
    """

    name: str
    content_type: str
    data: bytes = b""
    sealed: SealingSpool | None = None
    uid: uuid.UUID | None = None

    @property
    def size(self) -> int:
        return self.sealed.size if self.sealed is not None else len(self.data)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


def safe_file_name(name: str) -> str:
    """Keep a readable name but drop paths, control and bidi-override characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip(" .") or "attachment"
    return name[:200]


class AttachmentsField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[IncomingFile]:
        return read_uploads(data if isinstance(data, list | tuple) else [data])


def read_uploads(uploads: Sequence[UploadedFile | None]) -> list[IncomingFile]:
    """Uploaded files within the count and size limits, read; else a ValidationError.

    The one check for every upload, finder's or team's, form or API.
    """
    files = [f for f in uploads if f]
    limit = settings.MELDPUNT_MAX_ATTACHMENTS
    if len(files) > limit:
        raise forms.ValidationError(
            ngettext(
                "You can attach at most %(limit)d file.",
                "You can attach at most %(limit)d files.",
                limit,
            )
            % {"limit": limit}
        )
    return [_read(f) for f in files]


def _read(upload: UploadedFile) -> IncomingFile:
    max_bytes = settings.MELDPUNT_MAX_ATTACHMENT_BYTES
    name = safe_file_name(upload.name or "")
    if upload.size is None or upload.size > max_bytes:
        raise forms.ValidationError(
            _("%(name)s is larger than %(size)s MB.")
            % {"name": name, "size": f"{max_bytes / 1024 / 1024:g}"}
        )
    content_type = (upload.content_type or "application/octet-stream")[:100]
    if isinstance(upload, SealedUpload):
        if upload.spool is None:  # dropped only past the size limit, refused above
            raise ValueError("an oversized sealed upload was not refused")
        return IncomingFile(name, content_type, sealed=upload.spool, uid=upload.uid)
    return IncomingFile(name=name, content_type=content_type, data=upload.read())


class LimitedUploadHandler(MemoryFileUploadHandler):
    """Uploads kept in memory, with the per-file and count limits applied while streaming.

    A file larger than MELDPUNT_MAX_ATTACHMENT_BYTES stops being kept at the limit (its
    true size is still counted, so the form refuses it by name); files beyond the count
    limit are not kept at all. The total request size is refused earlier, from
    Content-Length, by the request size middleware.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.files_seen = 0
        self.size = 0

    def handle_raw_input(self, *args: Any, **kwargs: Any) -> None:
        super().handle_raw_input(*args, **kwargs)
        self.activated = True  # never spool to a temporary file in clear

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self.files_seen += 1
        self.size = 0
        if self.files_seen > settings.MELDPUNT_MAX_ATTACHMENTS + 1:
            # One past the limit is kept so the form can say "at most N files".
            raise SkipFile
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.size += len(raw_data)
        room = settings.MELDPUNT_MAX_ATTACHMENT_BYTES + 1 - self.file.tell()
        if room > 0:
            self.file.write(raw_data[:room])
        return None

    def file_complete(self, file_size: int) -> Any:
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            uploaded.size = self.size  # the size that was sent, not what was kept
        return uploaded


class SealedUpload(UploadedFile):
    """An uploaded file sealed in pieces as it came in; spool is None once it was too large."""

    def __init__(
        self, spool: SealingSpool | None, uid: uuid.UUID, name: str, content_type: str, size: int
    ) -> None:
        super().__init__(None, name, content_type, size)
        self.spool, self.uid = spool, uid

    def close(self) -> None:
        # Django closes the request's files when the response is done: the temporary file
        # (ciphertext only) goes then, whatever happened to the upload.
        if self.spool is not None:
            self.spool.close()


class SealingUploadHandler(LimitedUploadHandler):
    """LimitedUploadHandler that seals each file piece by piece while it arrives.

    For attachments stored in the database: per file a uid is chosen up front and the data
    is sealed in pieces under sealed_name(uid) (lib.chunks.SealingSpool); only sealed pieces
    are kept (memory, then a temporary file), at most about two pieces of plaintext at a
    time. The same limits apply: past the size limit nothing more is kept, but the true
    size is counted so the form refuses the file by name. sealed_name returns None when
    uploads are not to be sealed (the files store): then this is LimitedUploadHandler.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.sealing = False
        self.spool: SealingSpool | None = None
        self.uid = uuid.uuid4()

    def sealed_name(self, uid: uuid.UUID) -> str | None:
        """The name (associated data) the pieces of the file with this uid are sealed under."""
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self._drop()
        self.uid = uuid.uuid4()
        name = self.sealed_name(self.uid)
        self.sealing = name is not None
        if name is not None and self.files_seen < settings.MELDPUNT_MAX_ATTACHMENTS + 1:
            self.spool = SealingSpool(name)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if not self.sealing:
            return super().receive_data_chunk(raw_data, start)
        self.size += len(raw_data)
        if self.size > settings.MELDPUNT_MAX_ATTACHMENT_BYTES:
            self._drop()  # refused by its size anyway: keep nothing more of it
        elif self.spool is not None:
            self.spool.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> Any:
        if not self.sealing:
            return super().file_complete(file_size)
        spool, self.spool = self.spool, None
        if spool is not None:
            spool.finish()
        name, content_type = self.file_name or "", self.content_type or ""
        return SealedUpload(spool, self.uid, name, content_type, self.size)

    def upload_interrupted(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


# A downloaded file must never run in our origin: no sniffing, no inline display, and a
# sandbox in case a browser renders it anyway.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def shown_file_name(name: str) -> str:
    """The name as sent, minus control and bidi-override characters that disguise a file type."""
    kept = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split()).strip(" .")[:200] or "attachment"


def content_disposition(name: str) -> str:
    """RFC 6266: always an attachment, an ASCII fallback name and the exact name in UTF-8."""
    kept = name.translate({ord(ch): None for ch in "\"'\\/"}).strip(" .") or "attachment"
    fallback = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "._-+() ") else "_" for ch in kept
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(kept, safe='')}"


def file_response(data: Iterable[bytes], name: str) -> StreamingHttpResponse:
    """A finder's file for staff, desk and API alike: always a download, never run here.

    Streamed piece by piece, so a large file stored in pieces is never in memory whole.
    """
    response = StreamingHttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition(shown_file_name(name))
    for header, value in DOWNLOAD_HEADERS.items():
        response[header] = value
    return response
