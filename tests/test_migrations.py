"""The migrations describe the models exactly: moving code between apps left no state behind."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_it_has_a_migration_for_every_model_change() -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models and migrations disagree:\n{out.getvalue()}")
        raise AssertionError from exit_
    assert "No changes detected" in out.getvalue()
