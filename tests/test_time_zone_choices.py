"""Publication time zones: the organisation's first, common ones next, real zones only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import override_settings
from django.utils import translation

from meldpunt.advisories.forms import ReviewForm, time_zone_choices, with_zone


def names(choices: list[Any]) -> list[str]:
    return [name for _group, options in choices for name, _label in options]


def test_it_offers_the_organisations_zone_first_then_common_ones() -> None:
    with override_settings(TIME_ZONE="Europe/Luxembourg"), translation.override("en"):
        (common_label, common), *regions = time_zone_choices()
        assert str(common_label) == "Common time zones"
    assert common[0] == ("Europe/Luxembourg", "Europe/Luxembourg")
    assert [n for n, _l in common].count("Europe/Luxembourg") == 1
    assert "UTC" in dict(common) and "Europe/Amsterdam" in dict(common)
    assert [g for g, _o in regions][:2] == ["Europe", "America"]
    assert ("America/New_York", "America/New York") in regions[1][1]


def test_it_drops_what_is_not_a_zone_and_legacy_aliases() -> None:
    offered = names(time_zone_choices())
    for gone in ("Factory", "localtime", "Zulu", "UCT", "US/Eastern", "Etc/GMT+5", "GB"):
        assert gone not in offered
    assert not [n for n in offered if n.startswith(("posix/", "right/", "Etc/"))]
    assert "UTC" in offered and "Asia/Kolkata" in offered
    assert all(n == "UTC" or "/" in n for n in offered)


def test_it_refuses_a_non_zone_and_accepts_a_grouped_one() -> None:
    form = ReviewForm({"decision": "approve", "proposed_tz": "Factory"})
    assert not form.is_valid() and "proposed_tz" in form.errors
    form = ReviewForm({"decision": "approve", "proposed_tz": "Pacific/Auckland"})
    assert form.is_valid(), form.errors


def test_it_keeps_a_zone_an_advisory_already_has() -> None:
    kept = names(with_zone(time_zone_choices(), "US/Eastern"))
    assert "US/Eastern" in kept
    assert with_zone(time_zone_choices(), "UTC") == time_zone_choices()


def test_it_styles_time_inputs_like_the_other_inputs() -> None:
    css = (Path(__file__).parents[1] / "meldpunt/static/meldpunt/meldpunt.css").read_text()
    rule = next(line for line in css.splitlines() if 'input[type="date"]' in line)
    assert 'input[type="time"]' in rule
