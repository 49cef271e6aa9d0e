"""The next 24 hours per place and hour, through the release gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.users import add_user
from belvedere.store.duckdb import DuckDBStore

URL = "/api/v1/situation/forecast"


def _login(client: TestClient, store: DuckDBStore, role: str) -> None:
    add_user(store, f"fc-{role}", f"{role}-forecast-pw", role=role)
    client.cookies.clear()
    answer = client.post("/api/v1/auth/login", data={"username": f"fc-{role}",
                                                     "password": f"{role}-forecast-pw"})
    assert answer.status_code == 200


def test_operator_gets_cells_analyst_zones_with_the_same_totals(
        city_store: DuckDBStore) -> None:
    with TestClient(create_app(city_store)) as client:
        assert client.get(URL).status_code == 401
        _login(client, city_store, "operator")
        before = len(city_store.audit_rows())
        cells = client.get(URL, params={"hours": 24}).json()
        _login(client, city_store, "analyst")
        zones = client.get(URL, params={"hours": 24, "level": "cell"}).json()
        wrong = client.get(URL, params={"source": "mobile_presence"})
    assert cells["granted"] == {"level": "cell", "resolution": 8}
    assert len(cells["hours"]) == 24 and len(cells["total"]) == 24
    assert all(len(f["properties"]["values"]) == 24 for f in cells["features"])
    assert all(f["geometry"]["type"] == "Polygon" for f in cells["features"])
    # The data end is the first hour forecast.
    period_end = city_store.data_period()[1]  # type: ignore[index]
    assert datetime.fromisoformat(cells["hours"][0].replace("Z", "+00:00")) == \
        period_end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    assert zones["granted"]["level"] == "zone"  # asked cells, the analyst's policy says zones
    assert 1 <= len(zones["features"]) <= 16
    assert all(f["geometry"] is None for f in zones["features"])
    # Same model, same hours: the zones' total is the cells' total less the cells at sea.
    day_cells, day_zones = sum(cells["total"]), sum(zones["total"])
    assert day_cells > 20  # the city's police log: about 200 a day outside patrol discoveries
    assert day_zones == pytest.approx(day_cells, rel=0.05)
    # A weekly rhythm, not a flat line.
    assert max(cells["total"]) > 1.5 * min(cells["total"])
    assert wrong.status_code == 422
    lines = [r for r in city_store.audit_rows()[before:] if '"forecast"' in str(r.what)]
    assert [r.actor for r in lines] == [pseudonym(city_store, "fc-operator"),
                                        pseudonym(city_store, "fc-analyst")]
