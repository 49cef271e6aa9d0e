"""The dashboard page and its static files.

``GET /`` serves one HTML page; the page itself carries no data. ``app.js`` asks the JSON API
(``/api/v1/...``) for everything, with the session cookie, so every figure the page shows has
gone through the release gate and is in the audit log. Without a session the page shows the
login form.

Wiring (in ``belvedere.api.main``)::

    from belvedere.web.pages import mount_static, router as web_router

    app.include_router(web_router)
    mount_static(app)

The page is strictly offline: MapLibre GL is vendored into ``static/vendor/`` at install time
(``scripts/vendor_web.sh``) and the Content-Security-Policy below forbids any other origin, so
a forgotten CDN link fails loudly in the browser test instead of leaking requests.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined

from belvedere import __version__
from belvedere.api.deps import SESSION_COOKIE
from belvedere.web.i18n import SUPPORTED_LANGUAGES, negotiate, strings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

# The page only checks that the API's session cookie is present (to skip a useless 401 round
# trip on a first visit); the API alone decides whether it is valid.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # MapLibre sets inline styles on its canvas and controls.
        "style-src 'self' 'unsafe-inline'",
        # MapLibre starts its web worker from a blob: URL and builds images (the hatch pattern).
        "worker-src 'self' blob:",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

router = APIRouter(include_in_schema=False)

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# A key missing from a dictionary must fail the page, not render an empty label.
templates.env.undefined = StrictUndefined


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    lang: Annotated[str | None, Query(description="fr or en; else Accept-Language")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The dashboard: login form, map, timeline. Needs no session to load."""
    language = negotiate(lang, accept_language)
    response = templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "lang": language,
            "languages": SUPPORTED_LANGUAGES,
            "t": strings(language),
            "root": request.scope.get("root_path", ""),
            "version": __version__,
            "has_session": SESSION_COOKIE in request.cookies,
        },
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def mount_static(app: FastAPI) -> None:
    """Serve ``belvedere/web/static/`` (app.js, app.css, vendored MapLibre) at ``/static``."""
    if not (STATIC_DIR / "vendor" / "maplibre-gl.js").is_file():
        # The page still loads (login works) but shows no map: say how to fix it.
        logger.warning(
            "MapLibre GL is not vendored in %s: run scripts/vendor_web.sh", STATIC_DIR / "vendor"
        )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
