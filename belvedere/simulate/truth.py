"""The simulator's ground truth, ``truth/`` (never ingested): what generated the feeds.

- ``parameters.json``: seed, period, the city's seed, every parameter and the event-effect table;
- ``events.json``: per planned event, every effect planted (feed, area, window, time profile,
  amount, and the expected baseline vs extra there, hence the multiplier);
- ``anomalies.csv``: ``anomaly_id;feed;zone_or_site;start_utc;end_utc;multiplier;label``;
- ``intensity_by_zone_hour.csv``: expected police-log incidents per arrondissement and local
  hour of week (``zone_id;hour_of_week;weekday;hour;expected_incidents``, Monday 00 h = 0,
  background and near-repeat offspring, without events and anomalies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from belvedere.simulate.anomalies import Anomaly, write_anomalies
from belvedere.simulate.calendar import SimEvent
from belvedere.simulate.clock import TZ_NAME, Period
from belvedere.simulate.effects import EffectTruth, effects_on, effects_table
from belvedere.simulate.geography import City
from belvedere.simulate.intensity import intensity_table
from belvedere.simulate.parameters import Parameters
from belvedere.simulate.streams import CITY_SEED
from belvedere.simulate.writers import utc_strftime, write_csv, write_json


def _iso_utc(seconds: int) -> str:
    return str(utc_strftime([seconds], "%Y-%m-%dT%H:%M:%SZ", local=False)[0])


def events_truth(events: list[SimEvent], truths: list[EffectTruth]) -> list[dict[str, Any]]:
    """One record per event with every effect planted and its expected multiplier."""
    by_feed: dict[str, list[EffectTruth]] = {}
    for truth in truths:
        by_feed.setdefault(truth.feed, []).append(truth)
    planted: dict[str, list[dict[str, Any]]] = {e.event_id: [] for e in events}
    for feed, feed_truths in sorted(by_feed.items()):
        pairs = zip(effects_on(events, feed), feed_truths, strict=True)
        for (event, effect), truth in pairs:
            multiplier = truth.multiplier
            planted[event.event_id].append({
                "feed": feed,
                "scope": truth.scope,
                "per_1000_attendees": effect.per_1000,
                "sigma_m": effect.sigma_m,
                "radius_m": effect.truth_radius_m,
                "sites": dict(effect.sites),
                "mix": dict(effect.mix),
                "time_profile": {"hours_from_start": list(effect.profile.hours),
                                 "weights": list(effect.profile.weights)},
                "window_start_utc": _iso_utc(truth.window_start_utc),
                "window_end_utc": _iso_utc(truth.window_end_utc),
                "baseline_expected": round(truth.baseline_expected, 3),
                "extra_expected": round(truth.extra_expected, 3),
                "multiplier": round(multiplier, 3) if multiplier != float("inf") else None,
            })
    return [{
        "event_id": e.event_id, "kind": e.kind, "title": e.title, "venue": e.venue,
        "start_local": e.start.isoformat(timespec="minutes"),
        "end_local": e.end.isoformat(timespec="minutes"),
        "start_utc": _iso_utc(e.start_utc), "end_utc": _iso_utc(e.end_utc),
        "attendance": e.attendance, "route": [list(v) for v in e.route],
        "effects": planted[e.event_id],
    } for e in events]


def write_truth(folder: Path, *, seed: int, period: Period, params: Parameters, city: City,
                events: list[SimEvent], anomalies: list[Anomaly],
                truths: list[EffectTruth]) -> None:
    """Write the four truth files into ``folder``."""
    write_json({
        "seed": seed,
        "city_seed": CITY_SEED,
        "timezone": TZ_NAME,
        "period": {"start": period.start.isoformat(), "days": period.days,
                   "end_exclusive": period.end.isoformat()},
        "parameters": params.as_dict(),
        "event_effects": effects_table(),
    }, folder / "parameters.json")
    write_json(events_truth(events, truths), folder / "events.json")
    write_anomalies(anomalies, folder / "anomalies.csv")
    write_csv(intensity_table(period, city, params.police),
              folder / "intensity_by_zone_hour.csv", separator=";")
