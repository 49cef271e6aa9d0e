"""Planned events and their conflicts through the API (audited like every release)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.grid.places import VENUES
from belvedere.grid.records import PlannedEvent, to_table
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.users import add_user
from belvedere.store.base import BatchInput, Store, empty_quarantine

EVENING = datetime(2024, 9, 14, 19, tzinfo=UTC)


def event(event_id: str, venue: str, start: datetime, kind: str = "concert") -> PlannedEvent:
    v = VENUES[venue]
    return PlannedEvent(source="events", source_id=event_id, kind=kind, title=event_id,
                        venue=venue, lat=v.lat, lon=v.lon, route=None, start=start,
                        end=start + timedelta(hours=2), expected_attendance=5000, cell=None,
                        zone=None)


def test_conflicts_of_the_evening_are_listed_for_a_logged_in_user(store: Store) -> None:
    db = store
    rows = [event("port", "vieux_port", EVENING), event("cane", "canebiere", EVENING),
            event("later", "plages_prado", EVENING + timedelta(days=3))]
    db.append_batch(BatchInput(source="events", file=None,
                               records={"planned_events": to_table(PlannedEvent, rows)},
                               quarantine=empty_quarantine(), rows_read=3))
    add_user(db, "prep", "preparation-1", role="analyst")
    with TestClient(create_app(db)) as client:
        params = {"start": (EVENING - timedelta(days=1)).isoformat(),
                  "end": (EVENING + timedelta(days=5)).isoformat()}
        assert client.get("/api/v1/events/conflicts", params=params).status_code == 401
        client.post("/api/v1/auth/login", data={"username": "prep", "password": "preparation-1"})
        before = len(db.audit_rows())
        answer = client.get("/api/v1/events/conflicts", params=params)
        assert answer.status_code == 200, answer.text
        (conflict,) = answer.json()
        assert (conflict["first"], conflict["second"]) == ("cane", "port")
        assert "space_time" in conflict["kinds"] and conflict["combined_attendance"] == 10_000
        assert len(db.audit_rows()) == before + 1
    db.close()


def test_anticipation_gives_cells_to_operators_and_thresholded_zones_to_analysts(
        city_store: Store) -> None:
    match = next(r for r in city_store.planned_events(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()
        if r["kind"] == "match_football")
    add_user(city_store, "op-ev", "operator-pass-1", role="operator")
    add_user(city_store, "an-ev", "analyst-pass-1", role="analyst")
    url = f"/api/v1/events/{match['source_id']}/anticipation"
    with TestClient(create_app(city_store)) as client:
        assert client.get(url).status_code == 401
        client.post("/api/v1/auth/login", data={"username": "op-ev",
                                                "password": "operator-pass-1"})
        operator = client.get(url).json()
        client.cookies.clear()
        client.post("/api/v1/auth/login", data={"username": "an-ev",
                                                "password": "analyst-pass-1"})
        analyst = client.get(url).json()
    assert operator["granted"] == "cell" and operator["k"] is None
    first = operator["rows"][0]
    assert {"cell", "zone", "hour", "feed", "lo80", "hi95"} <= set(first)
    assert {r["offset_h"] for r in operator["rows"]} == set(range(-6, 7))
    assert analyst["granted"] == "zone" and analyst["k"] == 11
    assert all("cell" not in r and "var_noise" not in r for r in analyst["rows"])
    for r in analyst["rows"]:
        if r["suppressed"]:
            assert r["expected"] is None and r["lo80"] is None and r["hi95"] is None
        else:
            assert min(r["expected"], r["baseline"], r["lo80"]) >= 11
            assert r["lo95"] <= r["lo80"] <= r["expected"] <= r["hi80"] <= r["hi95"]
    assert any(r["suppressed"] for r in analyst["rows"])


def test_an_operator_enters_a_planned_event_once_and_the_public_may_not(store: Store) -> None:
    db = store
    add_user(db, "op-new", "operator-pass-2", role="operator")
    add_user(db, "citizen", "public-pass-22", role="public")
    body = {"kind": "concert", "title": "Concert au Dôme", "venue": "le_dome",
            "start": "2024-12-06T19:30:00+00:00", "end": "2024-12-06T22:00:00+00:00",
            "expected_attendance": 7000}
    with TestClient(create_app(db)) as client:
        assert client.post("/api/v1/events", json=body).status_code == 401
        client.post("/api/v1/auth/login", data={"username": "op-new",
                                                "password": "operator-pass-2"})
        # A cookie session echoes its CSRF cookie in a header on every POST.
        csrf = {"X-CSRF-Token": client.cookies["belvedere_csrf"]}
        first = client.post("/api/v1/events", json=body, headers=csrf)
        again = client.post("/api/v1/events", json=body, headers=csrf)
        wrong = client.post("/api/v1/events", json={**body, "venue": "elysee"}, headers=csrf)
        client.cookies.clear()
        client.post("/api/v1/auth/login", data={"username": "citizen",
                                                "password": "public-pass-22"})
        refused = client.post("/api/v1/events", json=body,
                              headers={"X-CSRF-Token": client.cookies["belvedere_csrf"]})
    assert first.status_code == 201 and first.json() == {
        "id": "concert-le_dome-20241206T1930", "stored": True}
    assert again.json()["stored"] is False and wrong.status_code == 422
    assert refused.status_code == 403
    (row,) = db.planned_events(datetime(2024, 12, 1, tzinfo=UTC),
                               datetime(2024, 12, 31, tzinfo=UTC)).to_pylist()
    assert (row["zone"], row["expected_attendance"]) == ("13204", 7000)
    collections = [r for r in db.audit_rows() if r.action == "collection"]
    op_new = pseudonym(db, "op-new")
    assert [(r.actor, r.rows_released) for r in collections] == [(op_new, 1), (op_new, 0)]
    db.close()


def test_briefings_are_pdfs_rendered_per_request_and_audited(city_store: Store) -> None:
    match = next(r for r in city_store.planned_events(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).to_pylist()
        if r["kind"] == "match_football")
    add_user(city_store, "an-brief", "analyst-pass-3", role="analyst")
    url = f"/api/v1/events/{match['source_id']}/briefing.pdf"
    with TestClient(create_app(city_store)) as client:
        assert client.get(url).status_code == 401
        client.post("/api/v1/auth/login", data={"username": "an-brief",
                                                "password": "analyst-pass-3"})
        before = len(city_store.audit_rows())
        answer = client.get(url, params={"lang": "en"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.content.startswith(b"%PDF-")
        mine = [r for r in city_store.audit_rows()[before:]
                if r.actor == pseudonym(city_store, "an-brief")]
        assert any('"briefing"' in str(r.what) for r in mine)
        assert client.get(url, params={"lang": "de"}).status_code == 422
        assert client.get("/api/v1/events/NO-SUCH/briefing.pdf").status_code == 404
        day = match["start"].date().isoformat()
        daily = client.get("/api/v1/briefings/daily.pdf", params={"date": day})
        assert daily.status_code == 200 and daily.content.startswith(b"%PDF-")
