"""Analysts' reports (the forecast backtest), served to logged-in users and audited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from belvedere.api.deps import STAFF, StoreDep, allow, declared
from belvedere.privacy.release import Actor, record_release

router = APIRouter(tags=["reports"])

REPORTS = {"backtest": "backtest/report.html"}
"""Report name → file inside the app's reports folder."""


@router.get("/reports/{name}", response_class=HTMLResponse, response_model=None)
def report(name: str, request: Request, store: StoreDep, actor: Annotated[Actor, allow(*STAFF)],
           purpose: Annotated[str, declared("analysis", "report")]
           ) -> HTMLResponse | FileResponse:
    """A report as a self-contained HTML page (404 with a hint when it was not built)."""
    folder: Path | None = request.app.state.reports_dir
    path = folder / REPORTS[name] if folder and name in REPORTS else None
    if path is None or not path.is_file():
        return HTMLResponse(
            f"<p>No {name} report yet: run <code>belvedere backtest --out "
            f"{folder or 'REPORTS'}/{name}</code> (the demo builds it).</p>", status_code=404)
    record_release(store, actor, purpose, what={"resource": f"report:{name}"}, rows=1)
    return FileResponse(path, media_type="text/html")
