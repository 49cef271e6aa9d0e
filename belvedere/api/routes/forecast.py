"""The next hours: expected incidents per place and hour (the timeline's future part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Query

from belvedere.api.deps import READERS, StoreDep, allow, declared, require_period
from belvedere.errors import ConfigError
from belvedere.grid.cells import cells_geojson, str_to_cell
from belvedere.models.data import load_event_data
from belvedere.models.hourly import hourly_forecast
from belvedere.privacy.forecasts import release_forecast
from belvedere.privacy.release import Actor
from belvedere.sources.base import get_source

router = APIRouter(prefix="/situation", tags=["situation"])
HOURLY_MODELS = ("kde", "etas", "recent", "prospective", "naive")


@router.get("/forecast")
def forecast(
    store: StoreDep,
    actor: Annotated[Actor, allow(*READERS)],
    purpose: Annotated[str, declared("situation_monitoring", "forecast")],
    source: Annotated[str, Query(description="an incident feed")] = "police_log",
    start: Annotated[datetime | None, Query(description="first hour; default: the end of the "
                                                        "data held (now, when live)")] = None,
    hours: Annotated[int, Query(ge=1, le=48)] = 24,
    level: Annotated[Literal["cell", "zone"], Query()] = "cell",
    resolution: Annotated[int, Query(ge=7, le=9)] = 8,
    model: Annotated[Literal[HOURLY_MODELS], Query()] = "kde",  # type: ignore[valid-type]
) -> dict[str, Any]:
    """Expected incidents of one feed per place and hour over the next ``hours`` (a grid
    forecaster's window total shared out by the city's hour-of-week profile; see
    belvedere.models.hourly), cells for operators, arrondissements for the other roles.
    GeoJSON: one feature per place with its ``values``, one per hour of ``hours``."""
    info = get_source(source).info
    if info.kind != "incidents":
        raise ConfigError(f"{source!r} is not an incident feed: forecasts cover incident feeds")
    if start is None:
        start = require_period(store)[1]
    start = (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(UTC)
    start = start.replace(minute=0, second=0, microsecond=0)
    data = load_event_data(store, sources=(source,), resolution=resolution,
                           covariates=False).without_patrol_discoveries()
    rows = hourly_forecast(data, start=start, hours=hours, model=model)
    released, granted = release_forecast(
        store, rows, actor, purpose, level=level,
        what={"source": source, "model": model, "start": start.isoformat(), "hours": hours,
              "resolution": resolution})
    stamps = [start + timedelta(hours=i) for i in range(hours)]
    values = (released.sort("hour").group_by("place", maintain_order=True)
              .agg(pl.col("expected").round(3)))
    per_place = {str(r["place"]): r["expected"] for r in values.iter_rows(named=True)}
    if granted == "cell":
        geo = cells_geojson({str_to_cell(p): {"place": p, "values": v}
                             for p, v in per_place.items()})
    else:  # zone geometry comes from /zones, as for the situation map
        geo = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": None, "properties": {"place": p, "values": v}}
            for p, v in per_place.items()]}
    return {**geo, "granted": {"level": granted,
                               "resolution": resolution if granted == "cell" else None},
            "source": source, "model": model, "hours": stamps,
            "total": [round(float(x), 3) for x in
                      released.group_by("hour").agg(pl.col("expected").sum())
                      .sort("hour")["expected"]]}

