"""Alerts: one wave is one alert (deduplication, cooldown) and a person moves it along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from belvedere.errors import ConfigError
from belvedere.models.alerts import COOLDOWN, record_candidates, transition
from belvedere.models.anomalies import CANDIDATE_SCHEMA
from belvedere.store.duckdb import DuckDBStore

T0 = datetime(2024, 10, 3, 15, tzinfo=UTC)
HOUR = timedelta(hours=1)


def candidate(at: datetime, *, feed: str = "police_log", place: str = "13201",
              zone: str | None = "13201", level: str = "zone", p: float = 1e-5,
              observed: float = 12.0, places: list[str] | None = None) -> dict[str, Any]:
    return {"feed": feed, "category": "", "level": level, "place": place, "zone": zone,
            "places": places or [place], "method": "negbin", "window_start": at - HOUR,
            "window_end": at, "observed": observed, "expected": 3.0, "p_value": p,
            "q_value": p * 10, "score": 5.0}


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CANDIDATE_SCHEMA)


def test_one_wave_in_one_place_and_feed_is_one_alert(store: DuckDBStore) -> None:
    first = record_candidates(store, frame(candidate(T0)), T0)
    assert len(first.opened) == 1 and first.opened[0].alert_id == 1
    # An hour later the wave goes on, stronger, found by the scan on cells of the same zone.
    later = candidate(T0 + HOUR, level="cluster", place="883968...", p=1e-8, observed=20.0,
                      places=["8839681539fffff", "883968153bfffff"])
    second = record_candidates(store, frame(later), T0 + HOUR)
    assert second.opened == [] and len(second.updated) == 1
    (alert,) = store.alerts()
    assert alert.updates == 1 and alert.updated_at == T0 + HOUR
    assert alert.window_start == T0 - HOUR and alert.window_end == T0 + HOUR
    # The strongest evidence is kept; every place touched is listed.
    assert alert.p_value == pytest.approx(1e-8) and alert.observed == 20.0
    assert alert.method == "negbin" and alert.level == "cluster"
    assert set(alert.places) == {"13201", "8839681539fffff", "883968153bfffff"}
    # A weaker candidate still updates the wave but keeps the strongest figures.
    record_candidates(store, frame(candidate(T0 + 2 * HOUR, p=1e-3, observed=5.0)),
                      T0 + 2 * HOUR)
    (alert,) = store.alerts()
    assert alert.updates == 2 and alert.p_value == pytest.approx(1e-8)


def test_candidates_of_one_pass_in_the_same_area_open_one_alert(store: DuckDBStore) -> None:
    done = record_candidates(store, frame(
        candidate(T0), candidate(T0, level="cluster", place="8839681539fffff", p=1e-7),
        candidate(T0, zone="13202", place="13202")), T0)
    assert len(done.opened) == 2
    by_zone = {a.zone: a for a in store.alerts()}
    assert by_zone["13201"].p_value == pytest.approx(1e-7)
    assert by_zone["13201"].updates == 0


def test_after_the_cooldown_a_new_wave_opens_a_new_alert(store: DuckDBStore) -> None:
    record_candidates(store, frame(candidate(T0)), T0)
    later = T0 + COOLDOWN + HOUR
    done = record_candidates(store, frame(candidate(later)), later)
    assert len(done.opened) == 1 and done.updated == []
    assert len(store.alerts()) == 2


def test_other_feeds_and_places_are_other_alerts(store: DuckDBStore) -> None:
    record_candidates(store, frame(candidate(T0)), T0)
    done = record_candidates(store, frame(
        candidate(T0 + HOUR, feed="fire_ems"),
        candidate(T0 + HOUR, zone="13203", place="13203"),
        # A site outside every arrondissement is its own area.
        candidate(T0 + HOUR, feed="cctv_people", level="site", place="cam-vieux-port-ombriere",
                  zone=None)), T0 + HOUR)
    assert len(done.opened) == 3 and done.updated == []


def test_an_acknowledged_alert_keeps_absorbing_its_wave(store: DuckDBStore) -> None:
    (alert,) = record_candidates(store, frame(candidate(T0)), T0).opened
    store.update_alert(transition(alert, "acknowledge", by="op", reason="patrol on site",
                                  at=T0 + HOUR / 2))
    done = record_candidates(store, frame(candidate(T0 + HOUR)), T0 + HOUR)
    assert done.opened == [] and done.updated[0].status == "acknowledged"


def test_a_dismissed_wave_is_not_raised_again_during_the_cooldown(store: DuckDBStore) -> None:
    (alert,) = record_candidates(store, frame(candidate(T0)), T0).opened
    store.update_alert(transition(alert, "dismiss", by="op", reason="fair on the square",
                                  at=T0 + HOUR))
    during = record_candidates(store, frame(candidate(T0 + 2 * HOUR)), T0 + 2 * HOUR)
    assert during.opened == [] and during.updated == []
    (kept,) = store.alerts()
    assert kept.status == "dismissed" and kept.updates == 0
    after = T0 + HOUR + COOLDOWN + HOUR
    assert len(record_candidates(store, frame(candidate(after)), after).opened) == 1


def test_a_closed_alert_does_not_absorb_a_new_wave(store: DuckDBStore) -> None:
    (alert,) = record_candidates(store, frame(candidate(T0)), T0).opened
    handled = transition(alert, "acknowledge", by="op", reason="checked", at=T0)
    store.update_alert(transition(handled, "close", by="op", reason="over", at=T0 + HOUR))
    assert len(record_candidates(store, frame(candidate(T0 + 2 * HOUR)),
                                 T0 + 2 * HOUR).opened) == 1


def test_lifecycle_needs_a_person_a_reason_and_the_right_order(store: DuckDBStore) -> None:
    (alert,) = record_candidates(store, frame(candidate(T0)), T0).opened
    with pytest.raises(ConfigError, match="give a reason"):
        transition(alert, "acknowledge", by="op", reason="   ", at=T0)
    with pytest.raises(ConfigError, match="is open: it cannot be closed"):
        transition(alert, "close", by="op", reason="done", at=T0)
    with pytest.raises(ConfigError, match="unknown alert action"):
        transition(alert, "dispatch", by="op", reason="go", at=T0)
    acked = transition(alert, "acknowledge", by="op", reason=" patrol sent ", at=T0 + HOUR)
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_reason,
            acked.acknowledged_at) == ("acknowledged", "op", "patrol sent", T0 + HOUR)
    with pytest.raises(ConfigError, match="cannot be acknowledged"):
        transition(acked, "acknowledge", by="op", reason="again", at=T0)
    closed = transition(acked, "close", by="op2", reason="back to normal", at=T0 + 2 * HOUR)
    assert (closed.status, closed.closed_by, closed.close_reason) == ("closed", "op2",
                                                                      "back to normal")
    assert closed.acknowledged_by == "op"
    with pytest.raises(ConfigError, match="closed: it cannot be dismissed"):
        transition(closed, "dismiss", by="op", reason="no", at=T0)
    store.update_alert(closed)
    assert store.alert(alert.alert_id) == closed
    assert store.alerts("closed") == [closed] and store.alerts("open") == []


def test_a_cluster_straddling_a_boundary_joins_the_zone_alert_of_its_cells(
        store: DuckDBStore) -> None:
    """The scan's cluster is attributed to the zone of its centre cell (here 13206) while the
    records are in 13201: both are one wave, as the cluster's cells reach 13201."""
    import h3

    from belvedere.models.alerts import _cell_zone

    inside = h3.latlng_to_cell(43.2980, 5.3800, 8)  # La Canebière, 13201
    ring = [c for c in h3.grid_disk(inside, 1) if _cell_zone(c) != "13201"]
    assert _cell_zone(inside) == "13201" and ring, "a ring cell lies across the boundary"
    done = record_candidates(store, frame(
        candidate(T0),
        candidate(T0, level="cluster", place=ring[0], zone=_cell_zone(ring[0]), p=1e-9,
                  places=[ring[0], inside])), T0)
    assert len(done.opened) == 1
    (alert,) = store.alerts()
    assert set(alert.places) >= {"13201", inside, ring[0]}
