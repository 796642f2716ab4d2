"""Every page a finder or staff member reaches is valid HTML in every language (Nu HTML Checker)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.template import engines
from django.test import Client
from django.utils import timezone

from tests.site_tour import (
    LANGUAGES,
    bulk_refused,
    form_with_errors,
    in_language,
    open_desk,
    sso_pages,
    tool,
)


def test_it_prints_a_moment_as_html_datetime_accepts_it() -> None:
    page = engines["django"].from_string(
        "{{ at|html_datetime }}|{{ day|html_datetime }}|{{ x|html_datetime }}"
    )
    at = datetime(2030, 6, 3, 8, 0, 5, 123456, tzinfo=UTC)
    with timezone.override("Europe/Brussels"):
        text = page.render({"at": at, "day": date(2030, 6, 3), "x": None})
    assert text == "2030-06-03T10:00:05+02:00|2030-06-03|"


def fetch(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return str(response.content.decode())


@pytest.mark.django_db
def test_it_serves_only_valid_html(tmp_path: Path, settings: Any) -> None:
    settings.MELDPUNT_CRA_MANUFACTURER = True  # the legal reporting clocks are toured too
    settings.MELDPUNT_NIS2_ENTITY = True
    jar = tool("vnu-jar/build/dist/vnu.jar")
    if not shutil.which("java"):
        pytest.fail(
            "java is missing: install default-jre-headless (bin/setup --dev)", pytrace=False
        )
    desk = open_desk()
    files: list[Path] = []

    def keep(name: str, html: str) -> None:
        path = tmp_path / f"{name}.html"
        path.write_text(html)
        files.append(path)

    for language in LANGUAGES:
        keep(f"{language}-thanks", desk.thanks[language])
        keep(f"{language}-report-form-errors", form_with_errors(in_language(Client(), language)))
        refused = bulk_refused(in_language(desk.staff, language), desk.refused_reports)
        keep(f"{language}-bulk-refused", refused)
        for name, html in sso_pages(language).items():
            keep(f"{language}-{name}", html)
        for client, pages in [
            (desk.visitor, desk.public),
            (desk.finder, desk.finder_pages),
            (desk.staff, desk.staff_pages),
        ]:
            in_language(client, language)
            for name, path in pages:
                keep(f"{language}-{name}", fetch(client, path))

    # One JVM for all pages: a start per page would cost seconds each. A short-lived JVM
    # checks faster without the optimising compiler (8 s, not 15 s, for 81 pages), which
    # then needs a deeper stack for the HTML schema.
    checked = subprocess.run(
        [
            "java",
            "-Xss2m",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(jar),
            "--errors-only",
            "--format",
            "json",
            "--stdout",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.stdout, f"the Nu HTML Checker did not run: {checked.stderr}"
    messages: list[dict[str, Any]] = json.loads(checked.stdout)["messages"]
    errors = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine', '?')}: {m.get('message')}"
        f" [{m.get('extract', '').strip()}]"
        for m in messages
    ]
    assert not errors, f"{len(errors)} HTML errors in {len(files)} pages:\n" + "\n".join(errors)
    assert checked.returncode == 0, checked.stderr


def test_no_template_prints_a_datetime_attribute_with_microseconds() -> None:
    """`|date:'c'` prints microseconds, which HTML's datetime refuses: html_datetime instead.
    Pages the tour does not reach are held to it too."""
    import meldpunt

    templates = Path(meldpunt.__file__).parent / "templates"
    offenders = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if re.search(r"""\|date:\s*['"]c['"]""", path.read_text())
    ]
    assert not offenders, f"use |html_datetime in: {offenders}"
