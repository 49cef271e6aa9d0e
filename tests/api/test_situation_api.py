"""The API over a real DuckDB file: login, 401s, released answers, one audit line per answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from belvedere.api.main import create_app
from belvedere.cli import app as cli_app
from belvedere.grid.zones import arrondissements
from belvedere.privacy.policy import DEFAULT_K
from belvedere.privacy.users import add_user
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import discard_store, new_store_url
from tests.privacy.populate import DAYS, START, populate

ZONE_IDS = [z.zone_id for z in arrondissements()]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = new_store_url(tmp_path_factory.mktemp("api"), "api")
    db = open_store(url)
    populate(db)
    add_user(db, "ana", "analyst-password", role="analyst")
    add_user(db, "op", "operator-password", role="operator")
    db.close()
    yield url
    discard_store(url)


@pytest.fixture(scope="module")
def client(db_url: str) -> Iterator[TestClient]:
    db = open_store(db_url)
    with TestClient(create_app(db)) as c:
        yield c
    db.close()


def login(client: TestClient, user: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def analyst_headers(client: TestClient) -> dict[str, str]:
    return login(client, "ana", "analyst-password")


def test_situation_without_credentials_is_401(client: TestClient) -> None:
    client.cookies.clear()
    for path in ("/api/v1/situation", "/api/v1/situation/map?source=police_log",
                 "/api/v1/sources", "/api/v1/events"):
        assert client.get(path).status_code == 401


def test_wrong_password_is_401_with_the_same_message_as_an_unknown_user(
        client: TestClient) -> None:
    a = client.post("/api/v1/auth/login", data={"username": "ana", "password": "nope-nope-1"})
    b = client.post("/api/v1/auth/login", data={"username": "zed", "password": "nope-nope-1"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_health_is_public_and_reports_the_data_period(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["schema_version"] >= 2
    assert body["data_period"]["start"].startswith("2024-09-01")


def test_login_cookie_opens_the_api(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", data={"username": "op", "password": "operator-password"})
    assert r.status_code == 200 and "belvedere_session" in r.cookies
    assert client.get("/api/v1/auth/me").json() == {"username": "op", "role": "operator"}
    csrf = {"X-CSRF-Token": client.cookies["belvedere_csrf"]}
    assert client.post("/api/v1/auth/logout", headers=csrf).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_sources_lists_the_eight_feeds_in_two_languages(client: TestClient) -> None:
    sources = client.get("/api/v1/sources", headers=login(client, "op", "operator-password"))
    names = [s["name"] for s in sources.json()]
    assert names == ["police_log", "cctv", "fire_ems", "field_reports", "mobile_presence",
                     "transit", "hospital_ed", "events"]
    assert all(s["label"]["fr"] and s["label"]["en"] for s in sources.json())


def test_map_for_an_operator_is_a_cell_choropleth(client: TestClient) -> None:
    headers = login(client, "op", "operator-password")
    r = client.get("/api/v1/situation/map", headers=headers, params={
        "source": "police_log", "level": "cell", "resolution": 9,
        "start": START.isoformat(), "end": (START + timedelta(days=7)).isoformat()})
    geo = r.json()
    assert r.status_code == 200 and geo["type"] == "FeatureCollection"
    assert geo["granted"] == {"level": "cell", "resolution": 9, "bin": "window"}
    values = [f["properties"]["value"] for f in geo["features"]]
    store = client.app.state.store  # type: ignore[attr-defined]
    expected = rawsql.query(
        store, "SELECT count(*), count(DISTINCT cell) FROM incidents WHERE ts >= ? AND ts < ?",
        [START, START + timedelta(days=7)])[0]
    assert (sum(values), len(values)) == (float(expected[0]), expected[1])
    assert expected[0] > 500
    assert geo["features"][0]["geometry"]["type"] == "Polygon"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first_hour=st.integers(0, DAYS * 24 - 1),
    length_hours=st.integers(1, 24 * 14),
    zones=st.lists(st.sampled_from(ZONE_IDS), max_size=3, unique=True),
    level=st.sampled_from(["cell", "zone", "city"]),
    time_bin=st.sampled_from(["hour", "day", "window"]),
    endpoint=st.sampled_from(["/api/v1/situation", "/api/v1/situation/map",
                              "/api/v1/situation/timeline"]),
    source=st.sampled_from(["police_log", "hospital_ed"]),
)
def test_an_analyst_never_receives_a_count_below_k(
    client: TestClient, analyst_headers: dict[str, str], first_hour: int, length_hours: int,
    zones: list[str], level: str, time_bin: str, endpoint: str, source: str,
) -> None:
    start = START + timedelta(hours=first_hour)
    r = client.get(endpoint, headers=analyst_headers, params={
        "start": start.isoformat(), "end": (start + timedelta(hours=length_hours)).isoformat(),
        "zone": zones, "level": level, "bin": time_bin, "source": source, "purpose": "analysis"})
    assert r.status_code == 200, r.text
    body = r.json()
    items = (body.get("rows") or body.get("series")
             or [f["properties"] for f in body.get("features", [])])
    for item in items:
        assert item["value"] is None or item["value"] >= DEFAULT_K
        assert item.get("n") is None
        assert item["suppressed"] == (item["value"] is None)


def test_each_answered_request_leaves_one_audit_line_shown_by_audit_tail(
        db_url: str, tmp_path: Path) -> None:
    db = open_store(db_url)
    with TestClient(create_app(db)) as client:
        headers = login(client, "ana", "analyst-password")
        before = len(db.audit_rows())
        params = {"start": START.isoformat(), "end": (START + timedelta(days=3)).isoformat(),
                  "purpose": "analysis"}
        for _ in range(3):
            answer = client.get("/api/v1/situation", headers=headers, params=params)
            assert answer.status_code == 200
        client.cookies.clear()
        assert client.get("/api/v1/situation", params=params).status_code == 401  # not answered
        after = db.audit_rows()
    db.close()
    assert len(after) == before + 3
    result = CliRunner().invoke(cli_app, ["audit", "tail", "-n", "3", "--store", db_url],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for row in after[-3:]:
        assert f"│ {row.seq} " in result.output
    assert result.output.count("ana") >= 3 and "analysis" in result.output


def test_zone_drill_down_fills_quiet_hours_and_averages_the_same_hour_of_past_weeks(
        city_store: Store) -> None:
    from belvedere.privacy.users import add_user

    add_user(city_store, "drill-op", "drill-operator-pw", role="operator")
    with TestClient(create_app(city_store)) as client:
        client.post("/api/v1/auth/login", data={"username": "drill-op",
                                                "password": "drill-operator-pw"})
        period_end = city_store.data_period()[1]  # type: ignore[index]
        end = period_end.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=1)
        answer = client.get("/api/v1/situation/zone/13201",
                            params={"start": start.isoformat(), "end": end.isoformat()})
        unknown = client.get("/api/v1/situation/zone/99999")
        hourly = client.get("/api/v1/situation", params={
            "source": "police_log", "level": "zone", "zone": "13201", "bin": "hour",
            "start": (start - timedelta(days=7)).isoformat(), "end": end.isoformat()}).json()
    assert answer.status_code == 200 and unknown.status_code == 404
    data = answer.json()
    police = next(f for f in data["feeds"] if f["source"] == "police_log")
    assert len(police["bins"]) == 24  # every hour, quiet ones as 0
    assert all(isinstance(b["observed"], float) for b in police["bins"])
    # Observed matches the situation's own figures, and the expected value of an hour is the
    # mean over the weeks with data (here a 14-day city: one week before).
    counts: dict[str, float] = {}
    for r in hourly["rows"]:
        counts[r["bin_start"]] = counts.get(r["bin_start"], 0.0) + r["value"]
    for b in police["bins"]:
        assert b["observed"] == counts.get(b["bin_start"], 0.0)
        at = datetime.fromisoformat(b["bin_start"])
        week_before = (at - timedelta(days=7)).isoformat()
        assert b["expected"] == pytest.approx(counts.get(week_before, 0.0))
