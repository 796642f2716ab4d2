"""Which of a few languages a text is written in, for channels that do not say (mail)."""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Below this many letters (outside links) a guess is noise ("Hi, see attached"): the caller
# keeps its default. Equally when the model is not sure among the languages offered.
MIN_LETTERS = 40
MIN_CONFIDENCE = 0.9
# The opening of a long mail says as much as all of it, at a fraction of the time.
SAMPLE_CHARS = 5000
_LINKS = re.compile(r"\S*(?:://|@|www\.)\S*")


@cache
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    # The model ships inside the package (numpy arrays, no pickle): nothing is downloaded.
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    return identifier


def detect(text: str, languages: Collection[str]) -> str | None:
    """The language of `text` among `languages`; None if the text is too short or unclear."""
    words = _LINKS.sub(" ", text[:SAMPLE_CHARS])
    if not languages or sum(ch.isalpha() for ch in words) < MIN_LETTERS:
        return None
    language, confidence = _identifier(tuple(sorted(languages))).classify(words)
    return str(language) if confidence >= MIN_CONFIDENCE else None
