"""Every tag colour carries its white name at a contrast of at least 4.5:1 (WCAG 2 AA)."""

from __future__ import annotations

import re
from pathlib import Path

import meldpunt
from meldpunt.reports.labels import TAG_COLOUR_LABELS
from meldpunt.reports.models import TagColour

CSS = Path(meldpunt.__file__).parent / "static" / "meldpunt" / "meldpunt.css"
CHIP = re.compile(r"\.chip-(\w+) \{ background: #([0-9a-f]{6}); \}")


def luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_it_styles_every_palette_colour_readably() -> None:
    styled = dict(CHIP.findall(CSS.read_text()))
    assert set(styled) == set(TagColour.values) == set(TAG_COLOUR_LABELS)
    for name, background in styled.items():
        contrast = 1.05 / (luminance(background) + 0.05)
        assert contrast >= 4.5, f"{name}: {contrast:.2f}"
