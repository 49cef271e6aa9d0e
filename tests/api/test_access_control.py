"""Sessions, CSRF, machines' API tokens and login throttling over HTTP, on a real store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.release import Actor
from belvedere.privacy.tokens import create_api_token, revoke_api_token
from belvedere.privacy.users import add_user
from belvedere.store.base import Store

EVENT = {"kind": "concert", "title": "Concert au Dôme", "venue": "le_dome",
         "start": "2024-12-06T19:30:00+00:00", "end": "2024-12-06T22:00:00+00:00",
         "expected_attendance": 7000}
ADMIN = Actor("cli:test", "admin")


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    db = store
    add_user(db, "op", "operator-password", role="operator")
    with TestClient(create_app(db)) as c:
        yield c
    db.close()


def login(client: TestClient, username: str = "op",
          password: str = "operator-password") -> int:
    return client.post("/api/v1/auth/login",
                       data={"username": username, "password": password}).status_code


def test_login_sets_an_httponly_strict_session_cookie_and_a_readable_csrf_cookie(
        client: TestClient) -> None:
    answer = client.post("/api/v1/auth/login",
                         data={"username": "op", "password": "operator-password"})
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    assert "httponly" in cookies["belvedere_session"]
    assert "samesite=strict" in cookies["belvedere_session"]
    assert "httponly" not in cookies["belvedere_csrf"]
    assert "samesite=strict" in cookies["belvedere_csrf"]
    # The CSRF token is not the session token: reading it gives no session.
    assert client.cookies["belvedere_csrf"] != answer.json()["token"]


def test_a_cookie_post_needs_the_csrf_header_and_a_bearer_post_does_not(
        client: TestClient) -> None:
    token = client.post("/api/v1/auth/login",
                        data={"username": "op", "password": "operator-password"}).json()["token"]
    csrf = client.cookies["belvedere_csrf"]
    without = client.post("/api/v1/events", json=EVENT)
    wrong = client.post("/api/v1/events", json=EVENT, headers={"X-CSRF-Token": "0" * 64})
    with_header = client.post("/api/v1/events", json=EVENT, headers={"X-CSRF-Token": csrf})
    assert (without.status_code, wrong.status_code) == (403, 403)
    assert "X-CSRF-Token" in without.json()["detail"]
    assert with_header.status_code == 201 and with_header.json()["stored"] is True
    # GET needs no header; Bearer needs none either, even with no cookie at all.
    assert client.get("/api/v1/auth/me").status_code == 200
    client.cookies.clear()
    bearer = client.post("/api/v1/events", json={**EVENT, "id": "second"},
                         headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 201, bearer.text


def test_another_sessions_csrf_token_is_refused(client: TestClient) -> None:
    assert login(client) == 200
    first_csrf = client.cookies["belvedere_csrf"]
    client.cookies.clear()
    assert login(client) == 200
    assert client.post("/api/v1/auth/logout",
                       headers={"X-CSRF-Token": first_csrf}).status_code == 403
    assert client.post("/api/v1/auth/logout", headers={
        "X-CSRF-Token": client.cookies["belvedere_csrf"]}).status_code == 204


def test_a_machine_token_authenticates_reads_nothing_and_stops_when_revoked(
        client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    token, _ = create_api_token(store, "mqtt-bridge", by=ADMIN)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=auth).json() == {
        "username": "token:mqtt-bridge", "role": "machine"}
    assert client.get("/api/v1/situation", headers=auth).status_code == 403
    assert client.get("/api/v1/events", headers=auth).status_code == 403
    revoke_api_token(store, "mqtt-bridge", by=ADMIN)
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401
    forged = {"Authorization": "Bearer bvd_" + "x" * 43}
    assert client.get("/api/v1/auth/me", headers=forged).status_code == 401


def test_an_analyst_token_reads_like_an_analyst_and_is_audited_under_its_name(
        client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    token, _ = create_api_token(store, "nightly", role="analyst", days=1, by=ADMIN)
    answer = client.get("/api/v1/situation", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["k"] == 11
    last = store.audit_rows(limit=1)[0]
    assert (last.actor, last.role, last.action) == (pseudonym(store, "token:nightly"), "analyst",
                                                    "consultation")


def test_five_failed_logins_block_the_user_name_with_429_and_retry_after(
        client: TestClient) -> None:
    codes = [login(client, password=f"wrong-{i}") for i in range(5)]
    assert codes == [401] * 5
    blocked = client.post("/api/v1/auth/login",
                          data={"username": "op", "password": "operator-password"})
    # Blocked even with the right password: the sixth guess is never checked.
    assert blocked.status_code == 429
    assert 899 <= int(blocked.headers["Retry-After"]) <= 900
    assert "user name" in blocked.json()["detail"]


def test_a_success_clears_the_failures(client: TestClient) -> None:
    assert [login(client, password="nope-nope") for _ in range(4)] == [401] * 4
    assert login(client) == 200
    assert [login(client, password="nope-nope") for _ in range(5)] == [401] * 5
    assert login(client) == 429


def test_failures_from_one_address_block_other_user_names_too(client: TestClient) -> None:
    # The test client always comes from the same address ("testclient").
    assert [login(client, username=f"ghost{i}", password="x") for i in range(5)] == [401] * 5
    assert login(client) == 429
