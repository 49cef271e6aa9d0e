"""Red line "place-based only" (DESIGN.md §2) over every output: no route, export or model output
is keyed by a person, phone, plate, face, track or household.

The routes are enumerated from ``create_app(...)`` (as tests/api/test_route_rules.py does), so a
route added later is checked as soon as it is wired: its OpenAPI response schema, and its actual
answer on the simulated city to the most privileged role its rule admits (operators see cells).
Exports are the CLI's files; model outputs are the forecasters', the event-impact model's and the
anomaly detector's. Everything goes through :func:`belvedere.privacy.redlines.person_findings`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from belvedere.api.main import create_app
from belvedere.cli import app as cli_app
from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.live.service import LiveService
from belvedere.models.data import load_event_data
from belvedere.models.registry import forecasters
from belvedere.privacy.redlines import Finding, person_findings, person_key, text_findings
from belvedere.privacy.release import Actor
from belvedere.privacy.tokens import create_api_token
from belvedere.privacy.users import add_user, open_session
from belvedere.store.base import AlertRow, Store
from belvedere.store.factory import open_store
from tests.api.test_route_rules import API_ROUTES, PUBLIC, ROLES, rule_of
from tests.backends import copy_store, discard_store
from tests.tools import need_poppler

# The role an output is checked for: the first of these a route admits (operators see cells).
PREFERENCE = ("operator", "dpo", "analyst", "admin", "agent", "machine", "public")
T0 = datetime(2024, 9, 10, 15, tzinfo=UTC)


def schema_properties(schema: dict[str, Any], components: dict[str, Any],
                      seen: set[str] | None = None) -> set[str]:
    """Every property name of an OpenAPI schema, following ``$ref`` and combinators."""
    seen = set() if seen is None else seen
    names: set[str] = set()
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return names
        seen.add(name)
        return schema_properties(components[name], components, seen)
    for key, sub in schema.get("properties", {}).items():
        names.add(key)
        names |= schema_properties(sub, components, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            names |= schema_properties(schema[key], components, seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            names |= schema_properties(sub, components, seen)
    return names


def test_no_response_schema_of_the_api_has_a_person_keyed_field(store: Store) -> None:
    app = create_app(store)
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    checked, bad = 0, []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for response in op.get("responses", {}).values():
                for content in response.get("content", {}).values():
                    names = schema_properties(content.get("schema", {}), components)
                    checked += len(names)
                    bad += [(method.upper(), path, n) for n in names if person_key(n)]
    assert checked > 100  # the schemas were really walked
    assert bad == []


def test_the_check_itself_catches_person_keys_and_values() -> None:
    found = person_findings({
        "rows": [{"cell": "8939...", "personId": 1, "Telephone": "x"},
                 {"zone": "13201", "note": "appeler le 06 12 34 56 78 ou x@y.fr"}],
        "meta": {"owner": {"immatriculation": "AB-123-CD"}},
        "who": "psn-0123456789abcdef",
        "acknowledged_by": "operateur",  # staff accountability: allowed
    })
    assert {(f.what, f.text) for f in found} == {
        ("field name", "personId"), ("field name", "Telephone"), ("field name", "owner"),
        ("field name", "immatriculation"), ("phone", "appeler le 06 12 34 56 78 ou x@y.fr"),
        ("email", "appeler le 06 12 34 56 78 ou x@y.fr"), ("plate", "AB-123-CD"),
        ("pseudonym", "psn-0123456789abcdef")}
    table = pl.DataFrame({"cell": ["8939"], "household_size": [3]})
    assert [f.text for f in person_findings(table)] == ["household_size"]
    assert text_findings("Zone 13201\nContact: 06.12.34.56.78") == [
        Finding("line 2", "phone", "Contact: 06.12.34.56.78")]


# -- every route, answered on the simulated city ----------------------------------------------


def _headers(store: Store, role: str) -> dict[str, str]:
    if role == "machine":
        token, _ = create_api_token(store, f"redlines-{role}", by=Actor("test", "admin"))
    else:
        add_user(store, f"redlines-{role}", "redlines-password-1", role=role)
        token = open_session(store, Actor(f"redlines-{role}", role))
    return {"Authorization": f"Bearer {token}"}


def _alert(place: str, zone: str) -> AlertRow:
    return AlertRow(alert_id=0, feed="police_log", category="", level="zone", place=place,
                    zone=zone, places=(place,), method="negbin", window_start=T0,
                    window_end=T0 + timedelta(hours=2), observed=25.0, expected=3.0,
                    p_value=1e-6, q_value=1e-4, score=6.0, status="open", opened_at=T0,
                    updated_at=T0)


@pytest.fixture
def served(city_store: Store, city_dir: Path, tmp_path: Path
           ) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """The app over the simulated city (with a backtest report and two alerts), and the values
    its path parameters and request bodies take."""
    data = load_event_data(city_store, covariates=False).without_patrol_discoveries()
    from belvedere.models.backtest import backtest
    from belvedere.models.report import write_report

    end = city_store.data_period()[1]  # type: ignore[index]
    result = backtest(data, {"naive": forecasters()["naive"]},
                      starts=[end - timedelta(days=7)], horizon=timedelta(days=7))
    write_report(result, tmp_path / "reports" / "backtest", title="t", area_cells=data.area,
                 resolution=9)
    city_store.open_alert(_alert("13201", "13201"))
    city_store.open_alert(_alert("13203", "13203"))
    match = next(r for r in city_store.planned_events(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()
        if r["kind"] == "match_football")
    live = LiveService(city_store, LiveIngestor(city_store, LiveHub(), staging=tmp_path / "live",
                                                reference=city_dir), queue=4)
    now = datetime.now(UTC).replace(microsecond=0)
    values: dict[str, Any] = {
        "path": {"zone_id": "13201", "event_id": match["source_id"], "name": "backtest",
                 "feed": "cctv", "alert_id": "1"},
        "alert": {"/api/v1/alerts/{alert_id}/dismiss": "2"},
        # Analysts read the reports (their purpose, analysis, is not the operators').
        "role": {"/reports/{name}": "analyst"},
        "query": {
            # The finest grain each role is granted is asked for: cells, hours.
            "/api/v1/situation": {"level": "cell", "source": "police_log"},
            "/api/v1/situation/map": {"level": "cell", "source": "police_log"},
            "/api/v1/situation/timeline": {"level": "cell", "source": "police_log"},
            "/api/v1/briefings/daily.pdf": {"date": match["start"].date().isoformat()},
            "/reports/{name}": {"purpose": "analysis"},
        },
        "json": {
            "/api/v1/events": {"kind": "concert", "title": "Concert au Dôme", "venue": "le_dome",
                               "start": "2024-12-06T19:30:00+00:00",
                               "end": "2024-12-06T22:00:00+00:00",
                               "expected_attendance": 7000},
            "/api/v1/push/{feed}": {"event_id": "redlines-1", "camera_id": "cam-00",
                                    "type": "people_count", "ts": now.isoformat(),
                                    "window_s": 60, "value": 12},
            "/api/v1/field-reports": {"category": "tag", "lat": 43.2951, "lon": 5.3740,
                                      "created_at": now.isoformat(), "comment": "Tag frais."},
        },
    }
    with TestClient(create_app(city_store, reports_dir=tmp_path / "reports",
                               live_service=live)) as client:
        yield client, values


def _role(route: Any) -> str | None:
    rule = rule_of(route)
    admitted = set(ROLES) if rule == PUBLIC else set(rule or ())
    return next((r for r in PREFERENCE if r in admitted), None)


def _url(route: Any, values: dict[str, Any]) -> str:
    params = {}
    for name in route.param_convertors:
        assert name in values["path"], (
            f"{route.path}: give its path parameter {name!r} a value in this test")
        params[name] = values["alert"].get(route.path, values["path"][name])
    return str(route.path_format).format(**params)


def _read(client: TestClient, method: str, route: Any, url: str, headers: dict[str, str],
          values: dict[str, Any]) -> tuple[int, str, bytes]:
    """Status, media type and body (the first event of a stream)."""
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "POST":
        if route.path.endswith("/login"):
            kwargs["data"] = {"username": "redlines-operator", "password": "redlines-password-1"}
        elif "/alerts/" in route.path:
            kwargs["json"] = {"reason": "vu sur place"}
        else:
            kwargs["json"] = values["json"].get(route.path, {})
    kwargs["params"] = values["query"].get(route.path, {})
    with client.stream(method, url, **kwargs) as response:
        media = response.headers.get("content-type", "").split(";")[0]
        if media == "text/event-stream":
            for line in response.iter_lines():
                if line.startswith("data:"):
                    return response.status_code, "application/json", line[5:].encode()
        return response.status_code, media, response.read()


def _findings(media: str, body: bytes, tmp_path: Path) -> list[Finding]:
    if not body:
        return []
    if media == "application/json":
        return person_findings(json.loads(body))
    if media == "application/pdf":
        pdf = tmp_path / "out.pdf"
        pdf.write_bytes(body)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True,
                              text=True).stdout
        return text_findings(text)
    if media.startswith("text/"):
        # Visible text only: scripts and styles hold code, not data.
        html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", body.decode("utf-8", "replace"))
        return text_findings(re.sub(r"<[^>]+>", "\n", html))
    return []


def test_no_route_answers_with_a_person_keyed_field_or_value(
        served: tuple[TestClient, dict[str, Any]], city_store: Store,
        tmp_path: Path) -> None:
    need_poppler()  # the briefings' PDFs are read as text
    client, values = served
    headers = {role: _headers(city_store, role) for role in ROLES}
    # Logging out ends the session: it goes last.
    routes = sorted(API_ROUTES, key=lambda item: item[1].path.endswith("/logout"))
    answered, bad = [], []
    for method, route in routes:
        role = values["role"].get(route.path) or _role(route)
        assert role is not None, route.path
        status, media, body = _read(client, method, route, _url(route, values),
                                    headers[role], values)
        if status < 400:
            answered.append(f"{method} {route.path}")
        bad += [(method, route.path, f) for f in _findings(media, body, tmp_path)]
    assert bad == []
    # The data routes really answered (a 4xx answer would check nothing).
    for must in ("GET /api/v1/situation", "GET /api/v1/situation/map",
                 "GET /api/v1/situation/forecast", "GET /api/v1/events/{event_id}/anticipation",
                 "GET /api/v1/alerts", "GET /api/v1/live/stream", "POST /api/v1/field-reports",
                 "GET /api/v1/events/{event_id}/briefing.pdf", "GET /reports/{name}"):
        assert must in answered, must


# -- exports of the command line ----------------------------------------------------------------


@pytest.fixture
def city_copy(city_store_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the ingested city (the commands write to its access log)."""
    url = copy_store(city_store_url, tmp_path)
    yield url
    discard_store(url)


def test_no_cli_export_is_keyed_by_a_person(city_copy: str, tmp_path: Path) -> None:
    store = city_copy
    db = open_store(store)
    end = db.data_period()[1]  # type: ignore[index]
    match = next(r for r in db.planned_events(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()
        if r["kind"] == "match_football")
    db.close()
    runner = CliRunner()
    start = (end - timedelta(days=7)).isoformat()
    runs = {
        "forecast.csv": ["forecast", "--start", start, "--model", "kde", "--out",
                         str(tmp_path / "forecast.csv")],
        "anticipation.json": ["anticipate", "--venue", "velodrome", "--start",
                              match["start"].isoformat(), "--attendance", "60000", "--out",
                              str(tmp_path / "anticipation.json")],
        "situation": ["situation", "--role", "operator", "--purpose", "situation_monitoring",
                      "--level", "cell", "--limit", "400"],
        "conflicts": ["conflicts"],
        "fairness.json": ["audit", "fairness", "--no-feedback", "--out",
                          str(tmp_path / "fairness.json")],
    }
    bad = []
    for name, args in runs.items():
        result = runner.invoke(cli_app, [*args, "--store", store])
        assert result.exit_code == 0, (name, result.output)
        path = tmp_path / name
        if path.suffix == ".csv":
            output: Any = pl.read_csv(path)
            assert output.columns == ["cell", "score"]
        elif path.suffix == ".json":
            output = json.loads(path.read_text())
            assert output, name
        else:
            bad += [(name, f) for f in text_findings(result.output)]
            continue
        bad += [(name, f) for f in person_findings(output)]
    assert bad == []


# -- model outputs ------------------------------------------------------------------------------


def test_every_forecaster_forecasts_per_cell_and_explains_without_a_person(
        city_store: Store) -> None:
    data = load_event_data(city_store).without_patrol_discoveries()
    end = city_store.data_period()[1]  # type: ignore[index]
    until = end - timedelta(days=3)
    for name, factory in forecasters(horizon_days=1).items():
        if name == "boosted" or name == "ensemble":
            continue  # fitted in tests/redlines/test_features.py, with the features
        model = factory().fit(data, until=until)
        scores = model.predict(until, timedelta(days=1))
        # One expected count per cell of the study area, in its order: places, never people.
        assert scores.shape == (len(data.area),) and np.isfinite(scores).all(), name
        assert person_findings(model.explain()) == [], name


def test_event_impact_and_anomaly_outputs_are_keyed_by_place(city_store: Store) -> None:
    from belvedere.grid.places import VENUES
    from belvedere.models.anomalies import CANDIDATE_SCHEMA, OBSERVATION_SCHEMA
    from belvedere.models.event_impact import EventImpactModel, ImpactEvent, history_from_store

    match = next(r for r in city_store.planned_events(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()
        if r["kind"] == "match_football")
    site = VENUES["velodrome"]
    model = EventImpactModel(resolution=8).fit(history_from_store(city_store, resolution=8))
    rows = model.anticipate(ImpactEvent(
        kind="match_football", venue="velodrome",
        cell=h3.str_to_int(h3.latlng_to_cell(site.lat, site.lon, 8)),
        start=match["start"], end=match["end"], expected_attendance=60000.0))
    assert rows.height and "cell" in rows.columns
    assert person_findings(rows) == []
    for schema in (CANDIDATE_SCHEMA, OBSERVATION_SCHEMA):
        assert [n for n in schema.names() if person_key(n)] == []
        assert {"place", "zone"} <= set(schema.names())
