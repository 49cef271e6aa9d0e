"""The dashboard's UI strings, in French and English.

Every string the dashboard shows lives in ``i18n/<lang>.json`` (flat ``"key": "text"`` maps,
``{name}`` placeholders filled by ``app.js``). The template reads them through :func:`strings`;
the same dictionary is embedded in the page for ``app.js``, so both sides share one source.

Example:
    >>> negotiate(None, "en-GB,en;q=0.9,fr;q=0.8")
    'en'
    >>> negotiate("fr", "en-GB")
    'fr'
    >>> negotiate(None, None)
    'fr'
    >>> strings("en")["login.submit"]
    'Sign in'
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

SUPPORTED_LANGUAGES: tuple[str, ...] = ("fr", "en")
"""Languages with a complete dictionary; the first one is the default."""

DEFAULT_LANGUAGE = SUPPORTED_LANGUAGES[0]


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def strings(lang: str) -> dict[str, str]:
    """The UI dictionary of ``lang`` (one of :data:`SUPPORTED_LANGUAGES`).

    Raises:
        KeyError: for an unsupported language.
    """
    if lang not in SUPPORTED_LANGUAGES:
        raise KeyError(lang)
    text = resources.files("belvedere.web").joinpath("i18n", f"{lang}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def _accept_language(header: str) -> list[str]:
    """Primary language tags of an ``Accept-Language`` header, best first (RFC 9110 q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            # Sort by quality, then keep the header's order among equals.
            ranked.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(requested: str | None, accept_language: str | None) -> str:
    """The page language: ``requested`` (``?lang=``) if supported, else the best match of the
    ``Accept-Language`` header, else :data:`DEFAULT_LANGUAGE`."""
    if requested in SUPPORTED_LANGUAGES:
        return requested
    for tag in _accept_language(accept_language or ""):
        if tag in SUPPORTED_LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
