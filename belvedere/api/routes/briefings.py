"""Briefings as PDF: an event's preparation briefing and the daily situation report.

Each is rendered on request through the release gate (the briefing modules release what they
show and record it in the access log in the asker's name), in a private temporary folder that
is gone when the answer is sent: no PDF with the city's data stays on the server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from belvedere.api.deps import STAFF, StoreDep, allow, check_year, declared
from belvedere.briefings.daily_brief import render_daily_brief
from belvedere.briefings.event_brief import render_event_brief
from belvedere.privacy.release import Actor

router = APIRouter(tags=["briefings"])
Lang = Annotated[str, Query(pattern="^(fr|en)$")]
Staff = Annotated[Actor, allow(*STAFF)]


def _pdf(render: Callable[[Path], Path], name: str) -> Response:
    """``render(out)`` into a private temporary folder, gone once read: the PDF as an answer
    that no cache keeps."""
    with tempfile.TemporaryDirectory(prefix="belvedere-brief-") as folder:
        data = render(Path(folder) / name).read_bytes()
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"',
                             "Cache-Control": "no-store"})


@router.get("/events/{event_id}/briefing.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def event_briefing(event_id: str, store: StoreDep, actor: Staff,
                   purpose: Annotated[str, declared("event_preparation", "briefing", "events")],
                   lang: Lang = "fr") -> Response:
    """The preparation briefing of a planned event (A4 PDF, French or English)."""
    return _pdf(lambda out: render_event_brief(store, event_id=event_id, lang=lang,
                                               actor=actor, purpose=purpose, out=out),
                f"briefing-{event_id}-{lang}.pdf")


@router.get("/briefings/daily.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def daily_briefing(day: Annotated[date, Query(alias="date")], store: StoreDep,
                   actor: Staff,
                   purpose: Annotated[str, declared("situation_monitoring", "briefing",
                                                    "situation", "events")],
                   lang: Lang = "fr") -> Response:
    """The daily situation report of a day (Paris time; A4 PDF, French or English)."""
    check_year(day, "date")
    return _pdf(lambda out: render_daily_brief(store, day=day, lang=lang, actor=actor,
                                               purpose=purpose, out=out),
                f"daily-{day.isoformat()}-{lang}.pdf")
