"""Analytical queries, written once with Ibis so that DuckDB, PostgreSQL and Spark run them.

Only portable operations are used: filters, unions, integer bit arithmetic for H3 parents,
timestamp truncation and group-by aggregates.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis import _

from belvedere.grid.cells import parent_mask
from belvedere.grid.timebins import to_local
from belvedere.store.base import SituationQuery

_RES_SHIFT = 52


def observations(incidents: ir.Table, measurements: ir.Table,
                 aggregates: ir.Table | None = None) -> ir.Table:
    """Every stored figure as one long table: point events count 1, measurements their value;
    ``n`` is the number of records behind a row (1 for a raw record).

    Measurements suppressed at source (value NULL) are left out: they carry no figure. Records
    known only to a zone have no cell, so cell-level situations leave them out and zone-level
    ones count them. ``aggregates`` are the hourly counts of records purged by retention
    (:mod:`belvedere.store.purge`): one row per hour, place and category, on H3 cells no finer
    than resolution 8, so a purged period still answers by zone, by day or hour, and by cell at
    resolution 8 or coarser (a finer cell query gets their resolution-8 cells).
    """
    inc = incidents.select(
        source=_.source,
        metric=ibis.literal("incidents"),
        category=_.category,
        ts=_.ts,
        ts_local=_.ts_local,
        cell=_.cell,
        zone=_.zone,
        value=ibis.literal(1.0, type="float64"),
        time_precision=_.time_precision.cast("string"),  # nullable, as the literal below
        n=ibis.literal(1, type="int64"),
    )
    mea = measurements.filter(_.value.notnull()).select(
        source=_.source,
        metric=_.metric.cast("string"),  # nullable like the literal above, for the union
        category=_.category,
        ts=_.start,
        ts_local=_.start_local,
        cell=_.cell,
        zone=_.zone,
        value=_.value.cast("float64"),
        time_precision=ibis.literal("hour"),
        n=ibis.literal(1, type="int64"),
    )
    if aggregates is None:
        return inc.union(mea)
    agg = aggregates.select(
        source=_.source,
        metric=_.metric.cast("string"),
        category=_.category,
        ts=_.hour,
        ts_local=_.hour_local,
        cell=_.cell,
        zone=_.zone,
        value=_.value.cast("float64"),
        time_precision=_.time_precision.cast("string"),
        n=_.n.cast("int64"),
    )
    return inc.union(mea).union(agg)


def cell_at(cell: ir.IntegerValue, resolution: int) -> ir.IntegerValue:
    """``cell`` coarsened to ``resolution``; cells already that coarse are kept as they are."""
    and_mask, or_bits = parent_mask(resolution)
    own_resolution = (cell >> _RES_SHIFT) & 15
    parent = (cell & and_mask) | or_bits
    return ibis.ifelse(own_resolution <= resolution, cell, parent)


def situation(obs: ir.Table, q: SituationQuery) -> ir.Table:
    """The situation table for ``q`` over :func:`observations`.

    Place keys are returned as stored (int64 cell ids for ``cell``; the caller renders them).
    """
    t = obs.filter((_.ts >= q.start) & (_.ts < q.end))
    if q.sources:
        t = t.filter(_.source.isin(list(q.sources)))
    if q.zones:
        t = t.filter(_.zone.isin(list(q.zones)))
    if q.metrics:
        t = t.filter(_.metric.isin(list(q.metrics)))
    if not q.by_category:
        t = t.mutate(category=ibis.literal(""))
    if q.level == "cell":
        t = t.filter(_.cell.notnull()).mutate(place=cell_at(_.cell, q.resolution).cast("string"))
    elif q.level == "zone":
        t = t.filter(_.zone.notnull()).mutate(place=_.zone)
    else:
        t = t.mutate(place=ibis.literal("city"))
    if q.bin == "hour":
        # A record known only to the day has no hour: it is counted by day, never at 00:00.
        t = t.filter(_.time_precision != "day").mutate(bin_start=_.ts_local.truncate("h"))
    elif q.bin == "day":
        t = t.mutate(bin_start=_.ts_local.truncate("D"))
    else:
        t = t.mutate(bin_start=ibis.literal(to_local(q.start), type="timestamp"))
    return (
        t.group_by(["bin_start", "place", "source", "metric", "category"])
        .aggregate(value=_.value.sum(), n=_.n.sum())
        .order_by(["bin_start", "place", "source", "metric", "category"])
    )
