"""Health and version."""

from __future__ import annotations

from fastapi import APIRouter

from belvedere.api.deps import PUBLIC, StoreDep
from belvedere.api.schemas import HealthPublic
from belvedere.privacy.release import store_status

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, dependencies=[PUBLIC])
def health(store: StoreDep) -> dict[str, object]:
    """Liveness, schema version and the period the store holds (no login needed)."""
    return {"status": "ok", **store_status(store)}
