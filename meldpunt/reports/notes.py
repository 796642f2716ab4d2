"""The team's internal notes on a report; never shown to the finder."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from meldpunt.audit.actors import actor
from meldpunt.reports.models import Note, Report
from meldpunt.reports.services import record_event


def add_note(report: Report, author: User, text: str) -> Note:
    """One note and its event, in one transaction (the screens and the API call this)."""
    with transaction.atomic():
        note = Note(report=report, author=author, created_at=timezone.now())
        note.body = {"text": text}
        note.save()
        record_event(report, "note_added", actor(author), note=str(note.uid))
    return note
