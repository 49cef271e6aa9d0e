"""Field reports from the street: the same connector as the exports, and at once in the live
picture."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy.users import add_user
from belvedere.store.duckdb import DuckDBStore
from tests import rawsql

URL = "/api/v1/field-reports"


def _login(client: TestClient, store: DuckDBStore, role: str) -> dict[str, str]:
    add_user(store, f"fr-{role}", f"{role}-field-pass", role=role)
    client.cookies.clear()
    assert client.post("/api/v1/auth/login", data={"username": f"fr-{role}",
                                                   "password": f"{role}-field-pass"}
                       ).status_code == 200
    return {"X-CSRF-Token": client.cookies["belvedere_csrf"]}


def test_an_agent_files_a_report_that_is_pseudonymised_redacted_and_live(
        store: DuckDBStore) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    report = {"category": "eclairage", "lat": 43.2951, "lon": 5.3740,
              "created_at": now.isoformat(),
              "comment": "Lampadaire éteint, riverain joignable au 06 12 34 56 78."}
    with TestClient(create_app(store)) as client:
        assert client.post(URL, json=report).status_code == 401
        csrf = _login(client, store, "agent")
        assert client.post(URL, json=report).status_code == 403  # no CSRF header
        answer = client.post(URL, json=report, headers=csrf)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["stored"] is True and body["zone"] == "13201" and body["reason"] is None
        # Outside the city: quarantined with the connector's rule, not lost.
        sea = client.post(URL, json={**report, "lat": 43.20, "lon": 5.20}, headers=csrf).json()
        assert sea["stored"] is False and "outside" in sea["reason"]
        bad = client.post(URL, json={**report, "category": "photo_visage"}, headers=csrf)
        assert bad.status_code == 422
        long = client.post(URL, json={**report, "comment": "x" * 281}, headers=csrf)
        assert long.status_code == 422
        live = client.app.state.live.hub.current()  # type: ignore[attr-defined]
        csrf = _login(client, store, "analyst")
        assert client.post(URL, json=report, headers=csrf).status_code == 403
    table = store.incident_points(("field_reports",))
    assert table.num_rows == 1
    stored = store.quarantined("field_reports").to_pylist()
    assert [r["rule"] for r in stored] == ["outside_area"]
    # The agent is a pseudonym and the phone number is masked in what was kept.
    attrs = rawsql.scalar(store, "SELECT attrs FROM incidents WHERE source = 'field_reports'")
    kept = json.loads(attrs)
    assert kept["reporter"].startswith("psn-") and "fr-agent" not in attrs
    assert "06 12" not in kept["narrative"] and kept["narrative"].startswith("Lampadaire")
    # Each report is a collection by its agent in the access log.
    collected = [json.loads(r.what) for r in store.audit_rows()
                 if r.action == "collection" and '"field_report"' in r.what]
    assert [(w["stored"], w["quarantined"]) for w in collected] == [(1, 0), (0, 1)]
    # The live picture has it in the last hour, in the right arrondissement.
    rows = live.windows["last_60_min"].table
    mine = rows.filter(pc.equal(rows["source"], "field_reports"))
    assert pc.sum(mine["value"]).as_py() == 1
    assert datetime.fromisoformat(report["created_at"]) > now - timedelta(minutes=1)
