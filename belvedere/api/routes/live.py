"""The live picture: a snapshot, and a Server-Sent-Events stream of its updates.

Both go through the live release gate (:mod:`belvedere.privacy.live`): operators get cells and
the ids of the records that arrived; analysts and the DPO get arrondissement totals with counts
under k suppressed and no arrivals. A stream is one access-log line, written when it opens.

Each SSE message is ``event: situation``, ``id: <seq>`` and a JSON ``data`` in the shape of
:class:`~belvedere.api.schemas.LiveSituationPublic`; the first one is the state at opening. A
reader that falls behind gets coalesced updates (``coalesced`` > 0) and never slows ingestion.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from belvedere.api.deps import StoreDep, allow, declared
from belvedere.api.schemas import LiveSituationPublic
from belvedere.live.hub import LiveUpdate
from belvedere.live.service import LiveService
from belvedere.privacy.live import LIVE_ROLES, LiveView, open_live_view, release_live_windows
from belvedere.privacy.release import Actor

router = APIRouter(prefix="/live", tags=["live"])


def get_live(request: Request) -> LiveService:
    """The live service the app was created with."""
    live: LiveService = request.app.state.live
    return live


LiveDep = Annotated[LiveService, Depends(get_live)]
Follower = Annotated[Actor, allow(*LIVE_ROLES)]
Purpose = Annotated[str, declared("situation_monitoring", "live")]


def released(view: LiveView, update: LiveUpdate,
             windows: dict[str, Any] | None = None) -> dict[str, Any]:
    """``update`` as ``view`` may see it (JSON-able); ``windows`` already released, if any."""
    out: dict[str, Any] = {}
    for name, window in update.windows.items():
        if windows is not None:
            table, hidden = windows[name], None
        else:
            table, hidden = view.rows(window.table)
        rows = table.to_pylist()
        out[name] = {"start": window.start.isoformat(), "end": window.end.isoformat(),
                     "suppressed": hidden if hidden is not None
                     else sum(bool(r["suppressed"]) for r in rows),
                     "rows": rows}
    arrived = ([{"feed": a.feed, "batch_id": a.batch_id, "read": a.read, "stored": a.stored,
                 "duplicates": a.duplicates, "quarantined": a.quarantined,
                 "filtered": a.filtered, "ids": list(a.ids)} for a in update.arrived]
               if view.sees_arrivals else None)
    return {"seq": update.seq, "at": update.at.isoformat(), "coalesced": update.coalesced,
            "ids_dropped": update.ids_dropped if view.sees_arrivals else 0,
            "granted": {"level": view.level, "k": view.k}, "windows": out, "arrived": arrived}


@router.get("/situation", response_model=LiveSituationPublic)
def live_situation(store: StoreDep, actor: Follower, live: LiveDep,
                   purpose: Purpose) -> dict[str, Any]:
    """The live windows now (last 60 min, current hour), as the caller's role may see them."""
    update = live.hub.current()
    view, windows = release_live_windows(
        store, actor, purpose, {n: w.table for n, w in update.windows.items()})
    return released(view, update, windows)


def stream_view(store: StoreDep, actor: Follower,
                purpose: Purpose) -> LiveView:
    """The stream's grant, audited once — before streaming starts, so that a refusal is an
    HTTP error and not a broken stream."""
    return open_live_view(store, actor, purpose)


@router.get("/stream", response_class=EventSourceResponse)
async def live_stream(view: Annotated[LiveView, Depends(stream_view)], live: LiveDep
                      ) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the live picture now, then at every committed batch."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def notify() -> None:  # called from the ingesting thread
        loop.call_soon_threadsafe(wake.set)

    sub = live.hub.subscribe(live.queue, notify)
    try:
        pending = [live.hub.current()]
        sent = -1
        while not sub.closed:
            for update in pending:
                if update.seq <= sent:
                    continue  # queued while the opening state was read: already in it
                sent = update.seq
                data = await run_in_threadpool(released, view, update)
                yield ServerSentEvent(raw_data=json.dumps(data), event="situation",
                                      id=str(update.seq))
            await wake.wait()
            wake.clear()
            pending = sub.drain()
    finally:
        live.hub.unsubscribe(sub)
