"""④ Alerts: the detector's candidates become alerts that a person handles.

**One wave, one alert.** A candidate (:meth:`AnomalyDetector.detect`) is matched to the
alerts still *active* for the same feed and category whose area overlaps its own — the
arrondissement of its place (the place itself when outside every arrondissement) and, for cells
and space-time clusters, the arrondissement of each cell (a cluster on a boundary and the
arrondissement test that saw the same records are one wave). An alert is active while it is ``open``
or ``acknowledged`` and the detector updated it less than ``cooldown`` ago, or when it was
``dismissed`` less than ``cooldown`` ago (the person judged the wave harmless: it is not
raised again at once). A matched candidate updates the alert — its window is extended, the
places touched are added, and the strongest evidence (smallest p-value) is kept — instead of
opening a new one. Candidates of one pass for the same area are one alert.

**Lifecycle.** ``open`` → ``acknowledged`` (who, reason) → ``closed`` (who, reason); or
``dismissed`` (who, reason) from ``open`` or ``acknowledged``. Every transition names a person
and a reason; nothing is dispatched automatically (DESIGN.md §2: forecasts are advice).

Example:
    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 10, 3, 15, tzinfo=UTC)
    >>> row = AlertRow(1, "police_log", "", "zone", "13201", "13201", ("13201",), "negbin",
    ...                t, t, 12.0, 3.0, 1e-5, 1e-4, 5.0, "open", t, t)
    >>> transition(row, "acknowledge", by="op", reason="patrol sent to check", at=t).status
    'acknowledged'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import h3
import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.store.base import AlertRow, Store

COOLDOWN = timedelta(hours=3)
"""Candidates this close to an active alert's last update update it instead of opening one."""

TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "close": (frozenset({"acknowledged"}), "closed"),
    "dismiss": (frozenset({"open", "acknowledged"}), "dismissed"),
}
"""Action → (statuses it applies to, status it leads to)."""


def transition(alert: AlertRow, action: str, *, by: str, reason: str, at: datetime
               ) -> AlertRow:
    """``alert`` after a person's ``action`` (``acknowledge``, ``close``, ``dismiss``) with a
    ``reason``; :class:`ConfigError` for an unknown action, an empty reason, or an action the
    alert's status does not allow."""
    if action not in TRANSITIONS:
        raise ConfigError(f"unknown alert action {action!r}; actions: {', '.join(TRANSITIONS)}")
    reason = reason.strip()
    if not reason:
        raise ConfigError(f"to {action} alert {alert.alert_id}, give a reason")
    allowed, target = TRANSITIONS[action]
    if alert.status not in allowed:
        raise ConfigError(f"alert {alert.alert_id} is {alert.status}: it cannot be "
                          f"{target} (only when {' or '.join(sorted(allowed))})")
    if action == "acknowledge":
        return dataclasses.replace(alert, status=target, acknowledged_by=by,
                                   acknowledged_at=at, acknowledge_reason=reason)
    return dataclasses.replace(alert, status=target, closed_by=by, closed_at=at,
                               close_reason=reason)


def _area(row: dict[str, Any] | AlertRow) -> tuple[str, str, frozenset[str]]:
    """Feed, category and the arrondissements a candidate or alert touches: its own zone (the
    place itself outside every zone) and, for cells and clusters, the zone of each cell's
    centre — so that a space-time cluster straddling a boundary and the arrondissement test
    that saw the same records are one wave."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    zones = {str(get("zone") or get("place"))}
    zones.update(z for z in map(_cell_zone, get("places") or ()) if z)
    return str(get("feed")), str(get("category")), frozenset(zones)


@lru_cache(maxsize=4096)
def _cell_zone(place: str) -> str | None:
    """The arrondissement of an H3 cell's centre; ``None`` for what is not a cell."""
    if not h3.is_valid_cell(place):
        return None
    lat, lon = h3.cell_to_latlng(place)
    zone = assign_zones(arrondissements(), np.array([lat]), np.array([lon]))[0]
    return str(zone) if zone else None


def _same_wave(a: tuple[str, str, frozenset[str]], b: tuple[str, str, frozenset[str]]) -> bool:
    return a[0] == b[0] and a[1] == b[1] and bool(a[2] & b[2])


def _active(alert: AlertRow, now: datetime, cooldown: timedelta) -> bool:
    if alert.status in ("open", "acknowledged"):
        return alert.updated_at >= now - cooldown
    return (alert.status == "dismissed" and alert.closed_at is not None
            and alert.closed_at >= now - cooldown)


@dataclass
class Recorded:
    """What one pass did to the alerts: those opened and those updated."""

    opened: list[AlertRow] = field(default_factory=list)
    updated: list[AlertRow] = field(default_factory=list)


def merge(alert: AlertRow, candidate: dict[str, Any], now: datetime) -> AlertRow:
    """``alert`` updated by a candidate of the same wave: window extended, places added,
    the smaller p-value's figures kept."""
    places = tuple(dict.fromkeys([*alert.places, *candidate["places"]]))
    stronger = candidate["p_value"] < alert.p_value
    figures = {k: candidate[k] for k in ("level", "place", "method", "observed", "expected",
                                         "p_value", "q_value", "score")} if stronger else {}
    if stronger and candidate["zone"] is not None:
        figures["zone"] = candidate["zone"]
    return dataclasses.replace(
        alert, **figures, places=places,
        window_start=min(alert.window_start, candidate["window_start"]),
        window_end=max(alert.window_end, candidate["window_end"]),
        updated_at=now, updates=alert.updates + 1)


def record_candidates(store: Store, candidates: pl.DataFrame, now: datetime, *,
                      cooldown: timedelta = COOLDOWN) -> Recorded:
    """Open or update alerts for one pass's candidates (module doc); returns what changed.

    A dismissed alert absorbs its wave's candidates silently during the cooldown (it is not
    updated, so the cooldown is not prolonged by the wave it dismissed)."""
    result = Recorded()
    if not candidates.height:
        return result
    # Each wave: its area and its alert, already stored (active) or new in this pass (fresh).
    waves: list[tuple[tuple[str, str, frozenset[str]], AlertRow, bool]] = [
        (_area(alert), alert, False)
        for alert in store.alerts(since=now - cooldown - timedelta(days=1))
        if _active(alert, now, cooldown)]
    changed: dict[int, AlertRow] = {}
    for cand in candidates.sort("p_value").iter_rows(named=True):
        area = _area(cand)
        at = next((i for i, (key, _, _) in enumerate(waves) if _same_wave(key, area)), None)
        if at is None:
            waves.append((area, AlertRow(
                alert_id=0, feed=cand["feed"], category=cand["category"], level=cand["level"],
                place=cand["place"], zone=cand["zone"], places=tuple(cand["places"]),
                method=cand["method"], window_start=cand["window_start"],
                window_end=cand["window_end"], observed=cand["observed"],
                expected=cand["expected"], p_value=cand["p_value"], q_value=cand["q_value"],
                score=cand["score"], status="open", opened_at=now, updated_at=now), True))
            continue
        key, known, fresh = waves[at]
        if known.status == "dismissed":
            continue
        merged = merge(known, cand, now)
        if fresh:
            merged = dataclasses.replace(merged, updates=0)
        else:
            changed[at] = merged
        waves[at] = ((key[0], key[1], key[2] | area[2]), merged, fresh)
    for alert in changed.values():
        store.update_alert(alert)
        result.updated.append(alert)
    for _, alert, fresh in waves:
        if fresh:
            result.opened.append(store.open_alert(alert))
    return result
