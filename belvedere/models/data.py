"""From the store to a model's input: incidents on the grid, the study area, other feeds.

The study area is the city's own cells when belvedere knows its zones (Marseille's
arrondissements), else the cells where incidents were recorded before ``area_until`` — a city
with no boundary file is described by where its incidents happen, and never by the evaluation
period itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

import h3
import numpy as np
import polars as pl

from belvedere.grid.zones import arrondissements, cells_covering
from belvedere.models.base import EventData, coarsen
from belvedere.store.base import Store

CROSS_SOURCE_METRICS = ("crowd_count", "boardings", "ed_arrivals", "people_count")


def city_area(resolution: int) -> np.ndarray:
    """Marseille's cells at ``resolution`` (centres inside the arrondissements)."""
    return np.array(sorted(h3.str_to_int(c) for c in
                           cells_covering(arrondissements(), resolution)), dtype=np.int64)


def load_event_data(
    store: Store, *, sources: tuple[str, ...] = ("police_log",), resolution: int = 9,
    area: str = "city", area_until: datetime | None = None, covariates: bool = True,
) -> EventData:
    """Incidents of ``sources`` as :class:`EventData`.

    Args:
        area: ``city`` (Marseille's cells) or ``observed`` (cells with incidents before
            ``area_until``, or at all when it is not given).
        covariates: also load the other feeds' measurements and the planned events, for the
            cross-source model.
    """
    events = pl.from_arrow(store.incident_points(sources))
    assert isinstance(events, pl.DataFrame)
    if area == "city":
        cells = city_area(resolution)
    else:
        seen = events if area_until is None else events.filter(pl.col("ts") < area_until)
        cells = np.unique(coarsen(seen["cell"].to_numpy(), resolution))
    extra: dict[str, pl.DataFrame] = {}
    planned = None
    if covariates:
        for metric in CROSS_SOURCE_METRICS:
            frame = pl.from_arrow(store.measurement_points(metric))
            assert isinstance(frame, pl.DataFrame)
            if frame.height:
                extra[metric] = frame.with_columns(
                    cell=pl.Series(coarsen(frame["cell"].to_numpy(), resolution)))
        planned = _planned(store, resolution)
    return EventData.from_frame(events, resolution=resolution, area=cells, covariates=extra,
                                planned=planned)


def _planned(store: Store, resolution: int) -> pl.DataFrame | None:
    table = store.planned_events(datetime(1900, 1, 1, tzinfo=UTC),
                                 datetime(2200, 1, 1, tzinfo=UTC))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.filter(pl.col("cell").is_not_null())
    if not frame.height:
        return None
    return frame.select(
        pl.Series("cell", coarsen(frame["cell"].to_numpy(), resolution)),
        pl.col("start").dt.convert_time_zone("UTC"), pl.col("end").dt.convert_time_zone("UTC"),
        pl.col("expected_attendance").fill_null(0).cast(pl.Float64),
    )
