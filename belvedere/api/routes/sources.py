"""The feeds belvedere knows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from belvedere.api.deps import EVERYONE, allow
from belvedere.api.schemas import SourcePublic
from belvedere.privacy.release import Actor
from belvedere.sources.base import registry

router = APIRouter(tags=["sources"])


@router.get("/sources", response_model=list[SourcePublic])
def list_sources(actor: Annotated[Actor, allow(*EVERYONE)]) -> list[dict[str, object]]:
    """Every registered feed with its labels in French and English."""
    return [
        {
            "name": s.info.name,
            "label": {"fr": s.info.label_fr, "en": s.info.label_en},
            "kind": s.info.kind,
            "metric": s.info.metric,
            "always_aggregate": s.info.always_aggregate,
            "description": s.info.description,
        }
        for s in registry().values()
    ]
