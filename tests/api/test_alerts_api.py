"""Alerts over HTTP: operators handle them with a reason, the DPO reads them coarsened, every
access and every handling is in the access log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, open_session
from belvedere.store.base import AlertRow
from belvedere.store.duckdb import DuckDBStore

T0 = datetime(2024, 10, 3, 15, tzinfo=UTC)


def alert(feed: str, place: str, zone: str | None, observed: float, *, level: str = "cell",
          category: str = "") -> AlertRow:
    return AlertRow(alert_id=0, feed=feed, category=category, level=level, place=place,
                    zone=zone, places=(place,), method="negbin", window_start=T0,
                    window_end=T0 + timedelta(hours=2), observed=observed, expected=3.0,
                    p_value=1e-6, q_value=1e-4, score=6.0, status="open", opened_at=T0,
                    updated_at=T0)


@pytest.fixture
def client(store: DuckDBStore) -> TestClient:
    store.open_alert(alert("police_log", "13201", "13201", 25.0, level="zone"))
    store.open_alert(alert("crowd", "8839681539fffff", "13201", 16656.0))
    store.open_alert(alert("ed_arrivals", "timone", "13205", 9.0, level="site",
                           category="intoxication"))
    store.open_alert(alert("fire_ems", "13203", "13203", 6.0, level="zone"))
    for name, role in (("op", "operator"), ("ana", "analyst"), ("dpo", "dpo")):
        add_user(store, name, f"{name}-password-1", role=role)
    return TestClient(create_app(store))


def auth(store: DuckDBStore, name: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {open_session(store, Actor(name, role))}"}


def test_operator_acknowledges_with_a_reason_and_it_is_audited(
        client: TestClient, store: DuckDBStore) -> None:
    op = auth(store, "op", "operator")
    before = len(store.audit_rows())
    answer = client.post("/api/v1/alerts/1/acknowledge", headers=op,
                         json={"reason": "patrol sent; call Mme Dupont at 06 12 34 56 78"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "op"
    # The reason is minimised before it is kept: no name, no phone number.
    assert body["acknowledge_reason"] == "patrol sent; call Mme [NOM] at [TÉL]"
    (line,) = store.audit_rows()[before:]
    assert (line.actor, line.role, line.action) == (pseudonym(store, "op"), "operator",
                                                    "alteration")
    what = json.loads(line.what)
    assert what == {"resource": "alert", "alert_id": 1, "transition": "acknowledge",
                    "from": "open", "to": "acknowledged",
                    "reason": "patrol sent; call Mme [NOM] at [TÉL]"}
    assert store.alert(1).status == "acknowledged"  # type: ignore[union-attr]
    closed = client.post("/api/v1/alerts/1/close", headers=op, json={"reason": "calm again"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert json.loads(store.audit_rows()[-1].what)["transition"] == "close"


def test_analyst_may_neither_handle_nor_read_alerts(client: TestClient,
                                                    store: DuckDBStore) -> None:
    ana = auth(store, "ana", "analyst")
    before = len(store.audit_rows())
    answer = client.post("/api/v1/alerts/1/acknowledge", headers=ana, json={"reason": "seen"})
    assert answer.status_code == 403
    assert client.get("/api/v1/alerts", headers=ana).status_code == 403
    assert client.post("/api/v1/alerts/1/dismiss", json={"reason": "x"}).status_code == 401
    assert store.alert(1).status == "open"  # type: ignore[union-attr]
    assert len(store.audit_rows()) == before


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}, {"reason": None}])
def test_a_transition_without_a_reason_is_422(client: TestClient, store: DuckDBStore,
                                              body: dict[str, object]) -> None:
    answer = client.post("/api/v1/alerts/1/dismiss", headers=auth(store, "op", "operator"),
                         json=body)
    assert answer.status_code == 422
    assert store.alert(1).status == "open"  # type: ignore[union-attr]


def test_wrong_order_and_unknown_alerts_are_422(client: TestClient, store: DuckDBStore) -> None:
    op = auth(store, "op", "operator")
    answer = client.post("/api/v1/alerts/1/close", headers=op, json={"reason": "over"})
    assert answer.status_code == 422 and "is open" in answer.json()["detail"]
    answer = client.post("/api/v1/alerts/99/acknowledge", headers=op, json={"reason": "x"})
    assert answer.status_code == 404 and "no alert 99" in answer.json()["detail"]
    big = client.post(f"/api/v1/alerts/{2 ** 63}/acknowledge", headers=op, json={"reason": "x"})
    assert big.status_code == 422


def test_operators_see_cells_and_the_dpo_sees_arrondissements_with_small_counts_withheld(
        client: TestClient, store: DuckDBStore) -> None:
    before = len(store.audit_rows())
    op = client.get("/api/v1/alerts", headers=auth(store, "op", "operator")).json()
    dpo = client.get("/api/v1/alerts", params={"purpose": "dpo_review"},
                     headers=auth(store, "dpo", "dpo")).json()
    assert op["granted"] == "cell" and dpo["granted"] == "zone" and dpo["k"] == 11
    ops = {a["feed"]: a for a in op["alerts"]}
    dpos = {a["feed"]: a for a in dpo["alerts"]}
    assert ops["crowd"]["place"] == "8839681539fffff" and ops["crowd"]["observed"] == 16656
    assert dpos["crowd"]["place"] == "13201" and dpos["crowd"]["places"] == ["13201"]
    assert dpos["crowd"]["observed"] == 16656  # a count above k is shown
    # Under k: hidden from the DPO; hospital arrivals are hidden from every role.
    assert ops["fire_ems"]["observed"] == 6 and dpos["fire_ems"]["observed"] is None
    assert dpos["fire_ems"]["suppressed"] and dpos["fire_ems"]["expected"] is None
    assert ops["ed_arrivals"]["observed"] is None and ops["ed_arrivals"]["suppressed"]
    assert dpos["ed_arrivals"]["place"] == "13205"
    assert op["k"] == 11 and op["suppressed"] == 1 and dpo["suppressed"] == 2
    lines = store.audit_rows()[before:]
    assert [(x.actor, x.action, x.rows_released) for x in lines] == [
        (pseudonym(store, "op"), "consultation", 4), (pseudonym(store, "dpo"), "consultation", 4)]
    assert json.loads(lines[1].what)["granted"] == "zone"


def test_alerts_filter_by_status(client: TestClient, store: DuckDBStore) -> None:
    op = auth(store, "op", "operator")
    client.post("/api/v1/alerts/2/dismiss", headers=op, json={"reason": "fair on the port"})
    listed = client.get("/api/v1/alerts", params={"status": "dismissed"}, headers=op).json()
    assert [a["alert_id"] for a in listed["alerts"]] == [2]
    assert listed["alerts"][0]["close_reason"] == "fair on the port"
    assert client.get("/api/v1/alerts", params={"status": "sent"}, headers=op).status_code == 422
