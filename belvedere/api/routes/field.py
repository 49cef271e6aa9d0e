"""Field reports filed from the street (the agents' form at ``/agent``).

A report goes through the live ingestion path, hence the same connector as the agents' exports
(``field_reports``): the agent is pseudonymised at the door, the text redacted and cut, a report
outside the city quarantined with its reason, and the report appears at once in the live
picture of the operators' screens.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from belvedere.api.deps import allow
from belvedere.api.routes.live import LiveDep
from belvedere.errors import ConfigError
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.privacy.operations import record_operation
from belvedere.privacy.release import Actor
from belvedere.sources.field_reports import CATEGORY, COMMENT_MAX
from belvedere.sources.minimise import red_line_content

router = APIRouter(tags=["field"])
FEED = "field_reports"


class FieldReportIn(BaseModel):
    """What an agent saw, where and when; no photo, no person: any other field is refused, and
    a body carrying an image, an embedding or a field named for a person, face, track or plate
    is refused for crossing a red line (422, nothing stored)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="one of the shared field categories: "
                                      + ", ".join(CATEGORY))
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    created_at: datetime = Field(description="when it was seen (ISO 8601 with an offset)")
    comment: str = Field(default="", max_length=COMMENT_MAX)

    @model_validator(mode="before")
    @classmethod
    def _no_red_line(cls, data: Any) -> Any:
        found = red_line_content(data)
        if found:
            raise ValueError(f"red line: the report carries {found}; images, faces, "
                             "embeddings, tracks and plates are never accepted")
        return data

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATEGORY:
            raise ValueError(f"category is one of {', '.join(CATEGORY)}")
        return value


class FieldReportOut(BaseModel):
    """What became of the report: stored (with its arrondissement) or quarantined (why)."""

    id: str
    stored: bool
    zone: str | None
    reason: str | None


@router.post("/field-reports", response_model=FieldReportOut, status_code=201)
async def file_report(body: FieldReportIn,
                      actor: Annotated[Actor, allow("agent", "operator")],
                      live: LiveDep) -> dict[str, Any]:
    """File one report as the logged-in agent (pseudonymised at the door)."""
    if body.created_at.tzinfo is None:
        raise ConfigError("created_at must carry a time zone offset")
    report_id = uuid.uuid4().hex
    item = {"id": report_id, "agent": actor.username, "category": body.category,
            "created_at": body.created_at.isoformat(),
            "location": {"lat": body.lat, "lon": body.lon}, "comment": body.comment,
            "photo": None}
    result = await run_in_threadpool(live.ingestor.ingest, FEED,
                                     [json.dumps(item).encode("utf-8")])
    # Collected by this agent, in the access log under their pseudonym.
    await run_in_threadpool(record_operation, live.store, actor, "situation_monitoring",
                            "collection", rows=result.stored,
                            what={"resource": "field_report", "id": report_id,
                                  "stored": result.stored,
                                  "quarantined": result.quarantined})
    if result.stored:
        zone = assign_zones(arrondissements(), np.array([body.lat]), np.array([body.lon]))[0]
        return {"id": report_id, "stored": True, "zone": str(zone) if zone else None,
                "reason": None}
    rules = sorted({rule for b in result.batches for rule in b.quarantine_rules})
    return {"id": report_id, "stored": False, "zone": None,
            "reason": ", ".join(rules) or "not stored"}
