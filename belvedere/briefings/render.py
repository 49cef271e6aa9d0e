"""Rendering shared by the briefings: Jinja2 templates, offline WeasyPrint, embedded figures,
and the small-count rule for tables."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure

from belvedere.briefings.i18n import number
from belvedere.errors import ConfigError

TEMPLATES = Path(__file__).parent / "templates"


def suppressed(value: float, k: int, lang: str) -> str:
    """A count-like value for a table: ``< k`` under the threshold, else rounded.

    Example:
        >>> suppressed(3.2, 11, "fr"), suppressed(1234.4, 11, "en")
        ('< 11', '1,234')
    """
    return f"< {k}" if value < k else number(value, lang)


def environment() -> Environment:
    """The briefings' Jinja2 templates (HTML autoescaped)."""
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def offline_fetcher() -> Any:
    """A WeasyPrint URL fetcher that only opens data URIs: a briefing never reaches the network.

    WeasyPrint ≥ 68 takes a :class:`URLFetcher` (protocols allowlisted, a refused URL fails the
    rendering); older versions take a function.
    """
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint < 68
        from weasyprint import default_url_fetcher

        def fetch(url: str, timeout: int = 10, ssl_context: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ConfigError(f"briefings render offline; refused to fetch {url!r}")
            return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)

        return fetch
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def write_pdf(html: str, out: Path) -> None:
    """Print ``html`` to a PDF, offline."""
    from weasyprint import HTML  # imported here: WeasyPrint loads Pango at import time

    HTML(string=html, base_url=None, url_fetcher=offline_fetcher()).write_pdf(out)


def png_uri(figure: Figure) -> str:
    """A matplotlib figure as a PNG data URI (briefings embed their figures)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
