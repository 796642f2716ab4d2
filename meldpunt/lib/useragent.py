"""A coarse name for a browser ("Firefox on Linux") from its User-Agent header.

Staff see their sessions by device; the full header (versions, build ids) would fingerprint
a person, so only the browser family and the operating system are ever kept.
"""

from __future__ import annotations

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari",
# Android also says "Linux", iOS also says "Mac OS X".
BROWSERS = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
]
SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
    ("BSD", "BSD"),
]
UNKNOWN = "?"


def summary(user_agent: str) -> tuple[str, str]:
    """(browser, operating system), such as ("Firefox", "Linux"); "?" for what it cannot name."""
    browser = next((name for token, name in BROWSERS if token in user_agent), UNKNOWN)
    system = next((name for token, name in SYSTEMS if token in user_agent), UNKNOWN)
    return browser, system
