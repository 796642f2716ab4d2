"""Upload limits hold while the request streams in, and a full disk gets a clear answer."""

from __future__ import annotations

import email
import email.policy
import io
from email.message import EmailMessage
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory, override_settings

from meldpunt.intake.mail import TemporaryFailure, process_message
from meldpunt.lib.uploads import LimitedUploadHandler
from meldpunt.reports.models import Attachment, Report
from tests.conftest import form_post
from tests.test_mail_intake import plain_mail

pytestmark = pytest.mark.django_db
NO_DISK_LEFT = 1 << 62  # more free space than any disk has


def stream(handler: LimitedUploadHandler, data: bytes, chunk: int = 100) -> Any:
    handler.handle_raw_input(io.BytesIO(), {}, len(data), "boundary")
    try:
        handler.new_file("attachments", "big.bin", "application/octet-stream", len(data))
    except Exception as stop:  # StopFutureHandlers: this handler keeps the file
        assert type(stop).__name__ == "StopFutureHandlers"
    for start in range(0, len(data), chunk):
        handler.receive_data_chunk(data[start : start + chunk], start)
    return handler.file_complete(len(data))


@override_settings(MELDPUNT_MAX_ATTACHMENT_BYTES=1024)
def test_it_stops_keeping_an_oversized_file_at_the_limit_but_counts_its_size() -> None:
    uploaded = stream(LimitedUploadHandler(RequestFactory().post("/")), b"x" * 100_000)
    assert uploaded.size == 100_000  # the form refuses it by its real size
    assert len(uploaded.read()) == 1025  # but only the limit (+1) was held in memory


@override_settings(MELDPUNT_MAX_ATTACHMENTS=2)
def test_it_keeps_no_more_files_than_it_needs_to_refuse_them() -> None:
    handler = LimitedUploadHandler(RequestFactory().post("/"))
    handler.handle_raw_input(io.BytesIO(), {}, 10, "boundary")
    kept = 0
    for n in range(5):
        try:
            handler.new_file("attachments", f"f{n}", "text/plain", 1)
        except Exception as outcome:
            kept += type(outcome).__name__ == "StopFutureHandlers"
    assert kept == 3  # the limit plus one, so the form can say "at most 2 files"


@override_settings(MELDPUNT_MAX_ATTACHMENT_BYTES=1024)
def test_it_refuses_an_oversized_upload_by_name_through_the_real_form() -> None:
    big = SimpleUploadedFile("big.bin", b"x" * 50_000)
    response = form_post(Client(), attachments=[big])
    assert response.status_code == 400
    assert "big.bin is larger than" in response.content.decode()
    assert Report.objects.count() == 0


@override_settings(MELDPUNT_DISK_MIN_FREE_BYTES=NO_DISK_LEFT)
def test_it_refuses_attachments_when_the_disk_is_nearly_full_and_keeps_the_text() -> None:
    proof = SimpleUploadedFile("poc.txt", b"proof")
    response = form_post(Client(), description="kept for the retry", attachments=[proof])
    assert response.status_code == 507
    page = response.content.decode()
    assert "our storage is full" in page and "kept for the retry" in page
    assert Report.objects.count() == 0 and Attachment.objects.count() == 0
    # Without attachments the report still gets through.
    assert form_post(Client(), description="no files").status_code == 200
    assert Report.objects.count() == 1


@override_settings(MELDPUNT_ATTACHMENTS_MAX_BYTES=10)
def test_it_refuses_attachments_over_the_quota(rita: Any, rita_client: Client) -> None:
    proof = SimpleUploadedFile("poc.txt", b"x" * 11)
    response = rita_client.post("/status/reply/", {"text": "more", "attachments": [proof]})
    assert response.status_code == 507
    assert "our storage is full" in response.content.decode()
    assert rita.report.messages.count() == 0


@override_settings(MELDPUNT_DISK_MIN_FREE_BYTES=NO_DISK_LEFT)
def test_mail_with_attachments_waits_when_the_disk_is_nearly_full(org_key: Any) -> None:
    msg = email.message_from_bytes(plain_mail(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(b"proof", maintype="text", subtype="plain", filename="poc.txt")
    raw = msg.as_bytes()
    with pytest.raises(TemporaryFailure):
        process_message(raw)  # the SMTP listener answers 4xx; IMAP leaves the mail
    assert Report.objects.count() == 0
