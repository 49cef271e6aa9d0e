"""Push endpoint: feeds deliver batches over HTTP, ingested like every live message.

``POST /api/v1/push/{feed}`` (machines with an API token, or operators) answers once the batch is
committed, with what became of each item. The body is:

- ``application/json``: one item or an array of items in the feed's live payload format
  (docs/live.md) — a CCTV event, a police-log entry keyed by the export's column names…;
- any other type (``text/csv``, ``application/x-ndjson``, ``application/x-protobuf``…): one
  whole native file of the feed, as ``belvedere ingest`` would read it (a police-log export, a
  GTFS-realtime ``FeedMessage``).

Pushing the same batch again stores nothing twice (``duplicates``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from belvedere.api.deps import allow
from belvedere.api.routes.live import LiveDep
from belvedere.api.schemas import PushPublic
from belvedere.errors import ConfigError
from belvedere.privacy.operations import record_operation
from belvedere.privacy.release import Actor

router = APIRouter(tags=["push"])
PUSHERS = ("machine", "operator")
PUSH_PURPOSE = "situation_monitoring"
"""What feeds are collected for (the live picture)."""


@router.post("/push/{feed}", response_model=PushPublic)
async def push(feed: str, request: Request, actor: Annotated[Actor, allow(*PUSHERS)],
               live: LiveDep) -> dict[str, Any]:
    """Ingest one batch of ``feed``; answers read, stored, duplicates, quarantined, filtered."""
    _, fmt = live.ingestor.feed(feed)  # an unknown feed is a 422 before the body is read
    body = await request.body()
    if not body:
        raise ConfigError(f"push to {feed}: the body is empty")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        if not fmt.itemised:
            raise ConfigError(f"feed {feed} takes whole files ({fmt.suffix}), not JSON items")
        result = await run_in_threadpool(live.ingestor.ingest, feed, [body])
    else:
        result = await run_in_threadpool(live.ingestor.ingest_file, feed, body)
    counts = result.counts()
    batch_ids = [b.batch_id for b in result.batches]
    # A delivery is a collection by the pusher: one access-log line per batch pushed.
    await run_in_threadpool(record_operation, live.store, actor, PUSH_PURPOSE, "collection",
                            what={"resource": "push", "feed": feed, "batch_ids": batch_ids,
                                  **counts}, rows=counts["stored"])
    return {"feed": feed, **counts, "batch_ids": batch_ids}
