"""The live alert watch: the detector after every commit, alerts recorded and logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from belvedere.errors import ConfigError
from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.live.service import LiveService
from belvedere.live.watch import DETECTOR, AlertWatch
from belvedere.privacy.audit import pseudonym
from belvedere.simulate import simulate_city
from belvedere.sources.ingest import ingest_folder
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import copy_store, discard_store, new_store_url
from tests.live.conftest import wait_for

PARIS = ZoneInfo("Europe/Paris")


def _entry(i: int, at: datetime) -> bytes:
    local = at.astimezone(PARIS)
    return json.dumps({
        "numero_fiche": f"MC-W-{i:04d}", "date_heure": f"{local:%d/%m/%Y %H:%M}",
        "adresse": "La Canebière, 13001 Marseille", "latitude": "43,29800",
        "longitude": f"5,{38000 + 10 * (i % 4):05d}", "code_nature": "RIXE",
        "libelle_nature": "Rixe", "origine": "appel_public", "gravite": "2",
        "recit": ""}).encode()


@pytest.fixture(scope="module")
def recent_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a store holding five weeks of the simulated city, ending today: the live
    detector's history."""
    root = tmp_path_factory.mktemp("watch")
    today = datetime.now(PARIS).date()
    simulate_city(root / "city", days=35, seed=5, start=today - timedelta(days=35))
    url = new_store_url(root, "recent")
    store = open_store(url)
    ingest_folder(store, root / "city")
    store.close()
    yield url
    discard_store(url)


def test_a_burst_committed_live_opens_one_logged_alert(recent_city: str,
                                                       tmp_path: Path) -> None:
    copy = copy_store(recent_city, tmp_path)
    store = open_store(copy)
    hub = LiveHub()
    service = LiveService(store, LiveIngestor(store, hub, staging=tmp_path / "staging"))
    try:
        watch = service.watch_alerts()
        seq = hub.current().seq
        now = datetime.now(PARIS)
        service.ingestor.ingest("police_log", [_entry(i, now - timedelta(minutes=i % 6))
                                               for i in range(30)])
        assert wait_for(lambda: watch.passes >= 1 and bool(store.alerts()), timeout=20)
        alerts = store.alerts()
        assert [(a.feed, a.zone) for a in alerts] == [("police_log", "13201")]
        assert alerts[0].status == "open"
        assert alerts[0].observed >= 20 and alerts[0].expected < 5
        # Told the hub: an update after the batch's own, for every open dashboard.
        assert wait_for(lambda: hub.current().seq >= seq + 2, timeout=5)
        # More of the same wave updates that alert instead of opening another.
        service.ingestor.ingest("police_log", [_entry(100 + i, now) for i in range(10)])
        assert wait_for(lambda: watch.passes >= 2, timeout=20)
        assert len(store.alerts()) == 1
        logged = [json.loads(r.what) for r in store.audit_rows()
                  if r.actor == pseudonym(store, DETECTOR) and r.action == "combination"]
        assert [w["alert_id"] for w in logged] == [alerts[0].alert_id]
    finally:
        service.stop()
        store.close()
        discard_store(copy)


def test_no_recent_week_of_data_is_a_clear_error(store: Store, city_store: Store,
                                                 tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no data"):
        AlertWatch(store, LiveHub()).fit()
    # A service whose watch could not start still stops cleanly (serve's shutdown).
    service = LiveService(store, LiveIngestor(store, LiveHub(), staging=tmp_path / "staging"))
    with pytest.raises(ConfigError, match="no data"):
        service.watch_alerts()
    service.stop()
    assert service.watch is None and service.ingestor.committed == []
    # Two weeks of 2024 do not teach today's expected levels.
    with pytest.raises(ConfigError, match="a week of data before now"):
        AlertWatch(city_store, LiveHub()).fit()
