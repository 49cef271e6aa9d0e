"""Transparency: the register of purposes (public), and the privacy-loss ledger (the DPO)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from belvedere.api.deps import PUBLIC, StoreDep, allow, declared
from belvedere.privacy.purposes import describe
from belvedere.privacy.release import Actor, release_ledger

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.get("/purposes", dependencies=[PUBLIC])
def purposes() -> dict[str, Any]:
    """The register of purposes: controller, datasets and their regimes, outputs, purposes
    (regime, legal basis, datasets, outputs, retention, privacy budget) and the role × purpose
    release policies. It describes the processing and holds no data: open to anyone."""
    return describe()


@router.get("/ledger")
def ledger(
    store: StoreDep,
    actor: Annotated[Actor, allow("dpo")],
    purpose: Annotated[str, declared("dpo_review", "privacy_ledger")],
    of: Annotated[str | None, Query(max_length=100,
                                    description="only the releases of this purpose")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> dict[str, Any]:
    """The privacy-loss ledger: the newest noised releases (who, for what, which query, which
    mechanism, ε, δ, ρ, period) and each purpose's spending per period against its cap;
    audited."""
    rows, spent = release_ledger(store, actor, purpose, limit=limit, ledger_purpose=of)
    return {"spending": [asdict(s) for s in spent],
            "rows": [asdict(r) for r in rows]}
