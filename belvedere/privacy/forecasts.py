"""Forecasts through the release gate: cells for roles with cell detail, zones for the others.

A forecast is a model's expected count, not a record: there is no small count of people to hide,
but a fine-grained forecast still says where attention will go, so it follows the role's finest
place level like the situation does (operators: cells; analysts, the DPO, the public:
arrondissement totals). Every release is one line in the access log.
"""

from __future__ import annotations

import polars as pl

from belvedere.models.event_impact import with_zones
from belvedere.privacy import audit
from belvedere.privacy.policy import check_purpose, policy_for
from belvedere.privacy.release import Actor
from belvedere.store.base import Store


def release_forecast(store: Store, rows: pl.DataFrame, actor: Actor, purpose: str, *,
                     level: str = "cell", what: dict[str, object]
                     ) -> tuple[pl.DataFrame, str]:
    """Hourly forecast rows (``cell`` int64, ``hour``, ``expected``) at the asked ``level``
    (``cell`` or ``zone``) or the coarser one ``actor``'s role allows: ``(rows with place
    (hex cell or zone id), hour, expected; granted level)``. Audited as a consultation."""
    check_purpose(purpose)
    policy = policy_for(actor.role)
    placed = with_zones(rows)
    if level == "cell" and policy.finest_level == "cell":
        out = placed.select(pl.col("cell").alias("place"), "hour", "expected")
        granted = "cell"
    else:
        out = (placed.filter(pl.col("zone").is_not_null())
               .group_by(pl.col("zone").alias("place"), "hour")
               .agg(pl.col("expected").sum()).sort("place", "hour"))
        granted = "zone"
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="consultation",
                 what={"resource": "forecast", **what, "asked": level, "granted": granted},
                 rows_released=out.height)
    return out, granted
