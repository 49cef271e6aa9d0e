"""The planted truth cell by cell: every feed's expected load per UTC hour and H3 cell.

``truth/events.json`` gives one planted total per event and feed; validating a model that
forecasts per cell and hour (the event impact model, for one) needs the expectation itself at
that grain. :func:`expected_load` returns, for every feed the event impact model reads, the
simulator's expected count per UTC hour and resolution-8 cell *without* the planned events
(``baseline``) and *with* them (``expected``), so ``expected − baseline`` is the planted event
effect, cell by cell.

- **Measurement feeds** come straight from the generators' own expectation grids, computed
  once with the calendar and once with an empty one: operator
  presence per cell (:func:`~belvedere.simulate.presence.presence_expected`), metro boardings
  per station (:func:`~belvedere.simulate.transit.transit_expected`) and ED arrivals per
  hospital (:func:`~belvedere.simulate.hospitals.hospital_expected`), stations and hospitals
  summed per cell. Wall-clock hours become UTC hours (the repeated autumn hour keeps its first
  occurrence, as the feeds' loaders do).
- **Point feeds** (police log, fire/EMS) have a per-zone intensity and positions drawn around
  hotspots, resident-weighted cells and venues: each zone's and each event's spread over the
  cells is integrated by Monte Carlo (``samples`` positions each, a fixed stream of its own, so
  the result is reproducible and does not disturb the feeds' draws). The police log's
  near-repeat offspring add ``n + n² + …`` of every hour's expectation, delayed by the
  exponential offspring delay (their 120 m offset is neglected: cells are ~900 m across).

Planted anomalies are included where the generators include them in the grid (crowd spikes,
ED spikes); incident bursts are not, as they are planted on days more than a day away from
any event.

Example:
    >>> kernel = offspring_kernel(4.0, 48)
    >>> round(float(kernel.sum()), 3), int(kernel.argmax())
    (1.0, 0)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from belvedere.grid.cells import STORED_RESOLUTION, latlng_to_cells, parents
from belvedere.grid.places import HOSPITALS, STATIONS, Site
from belvedere.simulate.clock import HOUR, TZ_NAME
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import effects_on
from belvedere.simulate.hospitals import hospital_expected
from belvedere.simulate.intensity import ZoneHourRate
from belvedere.simulate.police import police_rate
from belvedere.simulate.pompiers import fire_rate
from belvedere.simulate.presence import presence_expected
from belvedere.simulate.streams import stream
from belvedere.simulate.transit import transit_expected

RESOLUTION = 8
"""The operator's presence cells: every feed's truth is given at this resolution."""
_KERNEL_HOURS = 72
_SCHEMA = {"feed": pl.String(), "hour": pl.Datetime("us", "UTC"), "cell": pl.Int64(),
           "baseline": pl.Float64(), "expected": pl.Float64()}


def expected_load(ctx: SimContext, *, samples: int = 20_000) -> pl.DataFrame:
    """Expected load per feed, UTC hour and resolution-8 cell, without and with the events.

    Columns ``feed`` (the simulator's feed names: ``police_log``, ``fire_ems``,
    ``mobile_presence``, ``transit``, ``hospital_ed``), ``hour`` (UTC start), ``cell``
    (int64 H3), ``baseline``, ``expected``. ``samples`` positions per zone and per event
    integrate the point feeds' spatial spread.
    """
    p = ctx.params.police
    parts = [
        _points(ctx, "police_log", police_rate(ctx), samples, p.hotspot_share,
                p.hotspot_sigma_m, p.branching_ratio, p.offspring_delay_mean_h,
                p.max_generations),
        _points(ctx, "fire_ems", fire_rate(ctx), samples, 0.0, 0.0, 0.0, 1.0, 0),
    ]
    quiet = SimContext(ctx.seed, ctx.period, ctx.params, ctx.city, [], ctx.anomalies)
    city_cells = np.array([int(c, 16) for c in ctx.city.cells], dtype=np.int64)
    wall, with_events, _ = presence_expected(ctx)
    parts.append(_wall_frame("mobile_presence", wall, city_cells,
                             presence_expected(quiet)[1], with_events))
    wall, with_events, _ = transit_expected(ctx)
    cells = _site_cells([STATIONS[s] for s in sorted(STATIONS)])
    parts.append(_wall_frame("transit", wall, cells, transit_expected(quiet)[1], with_events))
    wall, with_events, _ = hospital_expected(ctx)
    sites = sorted(ctx.params.hospitals.sites)
    motifs = len(ctx.params.hospitals.motifs_day)
    cells = np.repeat(_site_cells([HOSPITALS[s] for s in sites]), motifs)
    parts.append(_wall_frame("hospital_ed", wall, cells, hospital_expected(quiet)[1],
                             with_events))
    return pl.concat(parts)


def offspring_kernel(delay_mean_h: float, hours: int) -> np.ndarray:
    """Share of a parent's children falling ``j`` whole hours after the parent's hour bin,
    for a parent uniform in its hour and an exponential delay of mean ``delay_mean_h``."""
    u = (np.arange(64) + 0.5) / 64
    edges = np.arange(hours + 1)[:, None] - u[None, :]
    cdf = 1.0 - np.exp(-np.clip(edges, 0.0, None) / delay_mean_h)
    kernel = np.diff(cdf, axis=0).mean(axis=1)
    return np.asarray(kernel / kernel.sum())


def _with_offspring(rate: np.ndarray, branching: float, delay_mean_h: float,
                    generations: int) -> np.ndarray:
    """``rate`` (hours × cells) plus every generation of near-repeat offspring."""
    if branching <= 0 or generations <= 0:
        return rate
    kernel = offspring_kernel(delay_mean_h, _KERNEL_HOURS)
    total, current = rate.copy(), rate
    for _ in range(generations):
        shifted = np.zeros_like(current)
        for lag, share in enumerate(kernel):
            shifted[lag:] += share * current[:len(current) - lag]
        current = branching * shifted
        total += current
    return total


def _points(ctx: SimContext, feed: str, rate: ZoneHourRate, samples: int,
            hotspot_share: float, hotspot_sigma_m: float, branching: float,
            delay_mean_h: float, generations: int) -> pl.DataFrame:
    """Expected records of a point feed per UTC hour and cell (module docstring)."""
    rng = stream(ctx.seed, "expected", ("police_log", "fire_ems").index(feed))
    city = ctx.city
    zone = np.repeat(np.arange(len(city.zone_ids)), samples)
    lat, lon = city.sample_in_zones(rng, zone, hotspot_share=hotspot_share,
                                    hotspot_sigma_m=hotspot_sigma_m)
    spread = [(zone, _cells(lat, lon))]
    hours = rate.hours_utc
    timing = []
    for index, (event, effect) in enumerate(effects_on(ctx.events, feed)):
        lat0, lon0 = event.anchors(rng, samples)
        lat, lon = city.sample_near(rng, lat0, lon0, effect.sigma_m)
        spread.append((np.full(samples, len(city.zone_ids) + index),
                       _cells(lat, lon)))
        offsets = (hours - event.start_utc) / HOUR
        timing.append(effect.amount(event) * effect.profile.mass(offsets, 1.0))
    source = np.concatenate([s for s, _ in spread])
    cells, column = np.unique(np.concatenate([c for _, c in spread]), return_inverse=True)
    share = np.zeros((len(city.zone_ids) + len(timing), len(cells)))
    np.add.at(share, (source, column), 1.0 / samples)
    base = rate.rate @ share[:len(city.zone_ids)]
    extra = (np.stack(timing, axis=1) @ share[len(city.zone_ids):] if timing
             else np.zeros_like(base))
    base = _with_offspring(base, branching, delay_mean_h, generations)
    total = base + _with_offspring(extra, branching, delay_mean_h, generations)
    return _frame(feed, _utc_hours(hours), cells, base, total)


def _cells(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Resolution-8 cells of points the way the store and the models see them: indexed at the
    stored resolution, then coarsened (H3 cells do not nest exactly: a point's resolution-8
    cell is not always the parent of its resolution-9 cell)."""
    return parents(latlng_to_cells(lat, lon, STORED_RESOLUTION), RESOLUTION)


def _site_cells(sites: list[Site]) -> np.ndarray:
    lat = np.array([s.lat for s in sites])
    lon = np.array([s.lon for s in sites])
    return _cells(lat, lon)


def _wall_frame(feed: str, wall: np.ndarray, cells: np.ndarray, base: np.ndarray,
                expected: np.ndarray) -> pl.DataFrame:
    """A (wall hours × columns) grid summed per cell and indexed by UTC hour."""
    hours = (pl.from_epoch(pl.Series(wall), time_unit="s")
             .dt.replace_time_zone(TZ_NAME, ambiguous="earliest", non_existent="null")
             .dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    unique, column = np.unique(cells, return_inverse=True)
    fold = np.zeros((len(cells), len(unique)))
    fold[np.arange(len(cells)), column] = 1.0
    frame = _frame(feed, hours, unique, base @ fold, expected @ fold)
    # The hour that does not exist (spring forward) has no UTC start; the repeated autumn
    # hour appears once in wall time and keeps its first occurrence.
    return frame.drop_nulls("hour").unique(["hour", "cell"], keep="first", maintain_order=True)


def _utc_hours(utc: np.ndarray) -> pl.Series:
    return pl.from_epoch(pl.Series(utc), time_unit="s").dt.replace_time_zone("UTC") \
        .dt.cast_time_unit("us")


def _frame(feed: str, hours: pl.Series, cells: np.ndarray, base: np.ndarray,
           expected: np.ndarray) -> pl.DataFrame:
    n_h, n_c = base.shape
    return pl.DataFrame({
        "feed": [feed] * (n_h * n_c),
        "hour": hours.gather(np.repeat(np.arange(n_h), n_c)),
        "cell": np.tile(cells, n_h),
        "baseline": base.ravel(),
        "expected": expected.ravel(),
    }, schema=_SCHEMA)
