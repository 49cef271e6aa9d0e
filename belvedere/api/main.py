"""⑥ The FastAPI application: one router per resource, errors mapped in one place."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI

from belvedere import __version__
from belvedere.api.errors import install_error_handlers
from belvedere.api.justification import JustificationMiddleware
from belvedere.api.routes import (
    alerts,
    audit,
    auth,
    briefings,
    events,
    field,
    forecast,
    health,
    live,
    places,
    privacy,
    push,
    reports,
    situation,
    sources,
    zones,
)
from belvedere.live.service import LiveService
from belvedere.privacy.throttle import LoginThrottle
from belvedere.store.base import Store
from belvedere.web import pages

API_PREFIX = "/api/v1"


def create_app(store: Store, *, reports_dir: Path | None = None,
               live_service: LiveService | None = None) -> FastAPI:
    """The belvedere web application (API + dashboard) over ``store``; ``reports_dir`` holds
    the analysts' reports (``backtest/report.html``) when they have been built;
    ``live_service`` feeds the push endpoint and the live stream (default: one without an MQTT
    bridge)."""
    app = FastAPI(title="belvedere", version=__version__,
                  description="Privacy-by-design public-safety observatory: place-based, "
                              "aggregate-only, every access audited.",
                  docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.store = store
    app.state.reports_dir = reports_dir
    app.state.live = live_service or LiveService.from_settings(store)
    # Failed logins are counted in this process's memory (see belvedere.privacy.throttle).
    app.state.login_throttle = LoginThrottle()
    api = APIRouter(prefix=API_PREFIX)
    for module in (health, auth, sources, zones, places, situation, forecast, events,
                   briefings, live, push, alerts, field, audit, privacy):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(reports.router)
    install_error_handlers(app)
    app.add_middleware(JustificationMiddleware)
    app.include_router(pages.router)
    pages.mount_static(app)
    return app
