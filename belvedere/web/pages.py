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

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined

from belvedere import __version__
from belvedere.api.deps import PUBLIC, SESSION_COOKIE
from belvedere.sources.field_reports import CATEGORY as FIELD_CATEGORIES
from belvedere.sources.field_reports import COMMENT_MAX
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


def _page(request: Request, template: str, lang: str | None, accept_language: str | None,
          **extra: object) -> HTMLResponse:
    """One of the app's pages in the negotiated language, with the strict security headers."""
    language = negotiate(lang, accept_language)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": language,
            "languages": SUPPORTED_LANGUAGES,
            "t": strings(language),
            "root": request.scope.get("root_path", ""),
            "version": __version__,
            "has_session": SESSION_COOKIE in request.cookies,
            "has_basemap": _basemap(request) is not None,
            **extra,
        },
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


Lang = Annotated[str | None, Query(description="fr or en; else Accept-Language")]
AcceptLanguage = Annotated[str | None, Header()]


@router.get("/", response_class=HTMLResponse, dependencies=[PUBLIC])
def dashboard(request: Request, lang: Lang = None,
              accept_language: AcceptLanguage = None) -> HTMLResponse:
    """The dashboard: login form, map, timeline. Needs no session to load."""
    return _page(request, "dashboard.html", lang, accept_language)


@router.get("/agent", response_class=HTMLResponse, dependencies=[PUBLIC])
def agent(request: Request, lang: Lang = None,
          accept_language: AcceptLanguage = None) -> HTMLResponse:
    """The field agents' report form, for a phone: login, then what, where, when. Needs no
    session to load; filing a report needs the ``agent`` (or ``operator``) role."""
    return _page(request, "agent.html", lang, accept_language,
                 categories=tuple(FIELD_CATEGORIES), comment_max=COMMENT_MAX)


def _basemap(request: Request) -> Path | None:
    """The operator's PMTiles basemap, when the app was given one that exists."""
    path: Path | None = getattr(request.app.state, "basemap", None)
    return path if path is not None and path.is_file() else None


@router.get("/basemap.pmtiles", dependencies=[PUBLIC])
def basemap(request: Request) -> FileResponse:
    """The optional basemap (public OpenStreetMap geography), read by the map with HTTP range
    requests; 404 when none was configured (``BELVEDERE_BASEMAP``)."""
    path = _basemap(request)
    if path is None:
        raise HTTPException(status_code=404, detail="no basemap configured (BELVEDERE_BASEMAP)")
    return FileResponse(path, media_type="application/vnd.pmtiles",
                        headers={"Cache-Control": "private, max-age=3600"})


def mount_static(app: FastAPI) -> None:
    """Serve ``belvedere/web/static/`` (app.js, app.css, vendored MapLibre) at ``/static``."""
    if not (STATIC_DIR / "vendor" / "maplibre-gl.js").is_file():
        # The page still loads (login works) but shows no map: say how to fix it.
        logger.warning(
            "MapLibre GL is not vendored in %s: run scripts/vendor_web.sh", STATIC_DIR / "vendor"
        )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
