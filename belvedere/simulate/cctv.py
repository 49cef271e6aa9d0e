"""Video-analytics boxes (aggregate events only): ``cctv/cameras.json`` and one
``cctv/events-YYYY-MM-DD.jsonl`` per local day.

Every camera of :data:`belvedere.grid.places.CAMERAS` emits a ``people_count`` per 15-minute
window: negative binomial (shape 15) around ``peak × hourly(h) × weekend``, where the peak is
the camera's own (350 on the Vieux-Port quay, 30 at the Vélodrome on an ordinary day), plus the
planned events' crowds (a camera at the venue counts 40 extra people per 1,000 attendees at a
match's peak, fewer further away, Gaussian 400 m). Cameras within 400 m of a venue also emit a
``crowd_density`` (people/m²) = count × 0.25 / 400 m², times a 10 % lognormal noise; a planted
CCTV anomaly multiplies one camera's density for two hours. Alarms (``abandoned_object``,
``intrusion``, ``fall``, ``fire_smoke``) are rare Poisson events (0.02–0.12 per camera-day)
with a confidence in [0.55, 0.99].

Format (docs/feeds.md): JSON objects with sorted keys, ``ts`` in local time with its UTC offset;
``event_id`` = ``ev-YYYYMMDD-NNNNNN`` numbered in time order within the local day. No image,
track or plate is ever produced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.grid.places import CAMERAS
from belvedere.simulate.anomalies import density_cameras
from belvedere.simulate.clock import HOUR, hour_of_day, utc_to_wall, weekday
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth, add_grid_effect, effects_on
from belvedere.simulate.writers import utc_strftime, write_json, write_lines

FEED = "cctv"


def simulate_cctv(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """All CCTV events, sorted by time, with columns ``date`` (local) and ``line`` (JSON)."""
    p = ctx.params.cctv
    rng = ctx.rng(FEED)
    cameras = sorted(CAMERAS)
    lat = np.array([CAMERAS[c].lat for c in cameras])
    lon = np.array([CAMERAS[c].lon for c in cameras])
    utc = np.arange(ctx.period.start_utc, ctx.period.end_utc, p.window_s, dtype=np.int64)
    wall = utc_to_wall(utc)
    level = np.asarray(p.hourly)[hour_of_day(wall)] * np.where(weekday(wall) >= 5,
                                                                p.weekend_factor, 1.0)
    peak = np.array([p.peak_count.get(c, p.default_peak_count) for c in cameras])
    base = level[:, None] * peak[None, :]
    extra = np.zeros_like(base)
    truths = []
    for event, effect in effects_on(ctx.events, FEED):
        offsets = (utc - event.start_utc) / HOUR
        scope = np.flatnonzero(event.distance_m(lat, lon) <= effect.truth_radius_m)
        truths.append(add_grid_effect(
            event, effect, offsets, p.window_s / HOUR, effect.weights(event, lat, lon), extra,
            density=False, base=base, scope=scope,
            scope_name=f"cameras within {effect.truth_radius_m:.0f} m"))
    mean = base + extra
    count = rng.negative_binomial(p.dispersion, p.dispersion / (p.dispersion + mean))

    with_density = np.isin(cameras, density_cameras(p))
    density = (count[:, with_density] * p.dwell_share / p.monitored_area_m2
               * rng.lognormal(0.0, 0.1, (len(utc), int(with_density.sum()))))
    for anomaly in ctx.anomalies_of("cctv_density_spike"):
        column = int(np.searchsorted(np.array(cameras)[with_density], anomaly.target))
        rows = (utc >= anomaly.start_utc) & (utc < anomaly.end_utc)
        density[rows, column] *= anomaly.multiplier

    parts = [
        _measurements(utc, cameras, count, "people_count", pl.Int64, p.window_s),
        _measurements(utc, list(np.array(cameras)[with_density]), np.round(density, 2),
                      "crowd_density", pl.Float64, p.window_s),
        _alarms(rng, ctx, cameras),
    ]
    events = pl.concat(parts).sort(["utc", "camera_id", "type"])
    ts = utc_strftime(events["utc"].to_numpy(), "%Y-%m-%dT%H:%M:%S%:z", local=True)
    events = events.with_columns(ts=ts, date=ts.str.slice(0, 10))
    seq = pl.int_range(1, pl.len() + 1).over("date").cast(pl.String).str.zfill(6)
    event_id = pl.format("ev-{}-{}", pl.col("date").str.replace_all("-", ""), seq)
    # Literal braces are doubled in polars' format strings.
    line = (
        pl.when(pl.col("window_s").is_not_null()).then(pl.format(
            '{{"camera_id":"{}","event_id":"{}","ts":"{}","type":"{}","value":{},"window_s":{}}}',
            "camera_id", "event_id", "ts", "type", "value", "window_s"))
        .otherwise(pl.format(
            '{{"camera_id":"{}","confidence":{},"event_id":"{}","ts":"{}","type":"{}"}}',
            "camera_id", "value", "event_id", "ts", "type"))
    )
    frame = events.with_columns(event_id=event_id).select("date", line.alias("line"))
    return frame, truths


def _measurements(utc: np.ndarray, cameras: list[str], values: np.ndarray, kind: str,
                  dtype: type[pl.DataType], window_s: int) -> pl.DataFrame:
    return pl.DataFrame({
        "utc": np.repeat(utc, len(cameras)),
        "camera_id": np.tile(np.array(cameras), len(utc)),
        "type": np.full(values.size, kind),
        "value": pl.Series(values.ravel(), dtype=dtype).cast(pl.String),
        "window_s": pl.repeat(window_s, values.size, dtype=pl.Int64, eager=True),
    })


def _alarms(rng: np.random.Generator, ctx: SimContext, cameras: list[str]) -> pl.DataFrame:
    p = ctx.params.cctv
    kinds = np.array(sorted(p.alarms_per_camera_day))
    per_period = np.array([p.alarms_per_camera_day[k] for k in kinds]) * ctx.period.days
    pair = np.repeat(np.arange(len(cameras) * len(kinds)),
                     rng.poisson(np.tile(per_period, len(cameras))))
    n = len(pair)
    low, high = p.confidence_range
    return pl.DataFrame({
        "utc": rng.integers(ctx.period.start_utc, ctx.period.end_utc, n),
        "camera_id": np.array(cameras)[pair // len(kinds)],
        "type": kinds[pair % len(kinds)],
        "value": pl.Series(np.round(rng.uniform(low, high, n), 2)).cast(pl.String),
        "window_s": pl.Series([None] * n, dtype=pl.Int64),
    }, schema_overrides={"utc": pl.Int64})


def write_cctv(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``cameras.json`` and one JSON Lines file per local day; return the event count."""
    write_json([{"camera_id": c.site_id, "name": c.name, "lat": c.lat, "lon": c.lon}
                for c in sorted(CAMERAS.values(), key=lambda c: c.site_id)],
               folder / "cameras.json")
    total = 0
    for (day,), part in frame.partition_by("date", as_dict=True, maintain_order=True).items():
        total += write_lines(part["line"], folder / f"events-{day}.jsonl")
    return total
