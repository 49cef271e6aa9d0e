"""The push endpoint and the live stream over a real server: who may call them, what a push
answers, an update on the stream after a push (as each role may see it), one access-log line
per stream, and a reader that never reads does not hold ingestion back."""

from __future__ import annotations

import json
import queue
import socket
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import h3
import httpx2 as httpx
import pytest

from belvedere.privacy.audit import pseudonym
from tests.live.conftest import Server, cctv_event
from tests.sources.feeds import POLICE_HEADER, police_row

COLUMNS = POLICE_HEADER.split(";")


def now_local() -> str:
    """Now in the police log's format (local time)."""
    return datetime.now(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y %H:%M")


def police_entries(ids: list[str], *, spread: int | None = None) -> list[dict[str, str]]:
    """Police-log entries of now, as JSON objects; with ``spread`` (a batch number), spread
    over some 600 cells of the city centre, a different part of them for each batch."""
    out = []
    for i, fiche in enumerate(ids):
        k = i + 120 * (spread or 0)
        lat, lon = ((f"43,{28500 + (k % 20) * 150}", f"5,{37500 + (k // 20 % 30) * 150}")
                    if spread is not None else ("43,29512", "5,37803"))
        row = police_row(fiche, when=now_local(), lat=lat, lon=lon)
        out.append(dict(zip(COLUMNS, row.split(";"), strict=True)))
    return out


class Stream:
    """A Server-Sent-Events reader on its own thread: each ``situation`` message, parsed."""

    def __init__(self, server: Server, role: str, purpose: str | None = None) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: queue.Queue[int] = queue.Queue()
        params = {"purpose": purpose} if purpose else {}
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        self._thread = threading.Thread(target=self._read, args=(
            f"{server.url}/api/v1/live/stream", server.headers[role], params), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str], params: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers, params=params) as response:
                self.status.put(response.status_code)
                event: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(("event:", "id:", "data:")):
                        name, _, value = line.partition(":")
                        event[name] = value.strip()
                    elif not line and "data" in event:
                        self.messages.put({"event": event.get("event"), "id": event.get("id"),
                                           **json.loads(event["data"])})
                        event = {}
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by the test or by the server's shutdown

    def until(self, check: Any, timeout: float = 15.0) -> dict[str, Any]:
        """The first message for which ``check(message)`` holds."""
        while True:
            message = self.messages.get(timeout=timeout)
            if check(message):
                return message

    def close(self) -> None:
        self._client.close()


def push(server: Server, feed: str, body: Any, role: str = "machine",
         **kwargs: Any) -> httpx.Response:
    headers = dict(server.headers.get(role, {}))
    if isinstance(body, bytes):
        return httpx.post(f"{server.url}/api/v1/push/{feed}", content=body,
                          headers={**headers, **kwargs.get("headers", {})}, timeout=60)
    return httpx.post(f"{server.url}/api/v1/push/{feed}", json=body, headers=headers,
                      timeout=60)


def test_push_needs_a_machine_or_an_operator(server: Server) -> None:
    body = police_entries(["MC-1"])
    assert push(server, "police_log", body, role="anonymous").status_code == 401
    assert push(server, "police_log", body, role="analyst").status_code == 403
    assert push(server, "police_log", body, role="operator").status_code == 200
    assert server.live.store.count("incidents", "police_log") == 1


def test_push_answers_what_became_of_each_item_and_a_repeat_stores_nothing(
        server: Server) -> None:
    body = [*police_entries(["MC-1", "MC-2"]), {**police_entries(["MC-3"])[0], "latitude": ""}]
    first = push(server, "police_log", body)
    assert first.status_code == 200, first.text
    assert {k: first.json()[k] for k in ("feed", "read", "stored", "duplicates", "quarantined")
            } == {"feed": "police_log", "read": 3, "stored": 2, "duplicates": 0,
                  "quarantined": 1}
    again = push(server, "police_log", body).json()
    assert (again["stored"], again["duplicates"]) == (0, 2)
    reasons = {r["rule"] for r in server.live.store.quarantined("police_log").to_pylist()}
    assert reasons == {"no_place"}
    # Each delivery is a collection in the access log, by the pushing machine's pseudonym.
    lines = [r for r in server.live.store.audit_rows() if r.action == "collection"]
    assert [(r.role, r.rows_released, json.loads(r.what)["feed"]) for r in lines] == [
        ("machine", 2, "police_log"), ("machine", 0, "police_log")]
    assert {r.actor for r in lines} == {pseudonym(server.live.store, "live-machine")}


def test_push_of_a_native_export_and_of_an_unknown_feed(server: Server) -> None:
    export = ("\ufeff" + POLICE_HEADER + "\r\n" + police_row("MC-9") + "\r\n").encode()
    r = push(server, "police_log", export, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["stored"] == 1
    unknown = push(server, "no_such_feed", police_entries(["MC-1"]))
    assert unknown.status_code == 422 and "unknown source" in unknown.json()["detail"]
    json_to_file_feed = push(server, "transit", [{"a": 1}])
    assert json_to_file_feed.status_code == 422


def test_the_stream_delivers_an_update_after_a_push_as_each_role_may_see_it(
        server: Server) -> None:
    operator, analyst = Stream(server, "operator"), Stream(server, "analyst")
    try:
        assert operator.status.get(timeout=10) == 200 and analyst.status.get(timeout=10) == 200
        opening = operator.until(lambda m: True)
        analyst.until(lambda m: True)
        r = push(server, "police_log", police_entries(["MC-1", "MC-2", "MC-3"]))
        assert r.status_code == 200 and r.json()["stored"] == 3

        seen = operator.until(lambda m: m["arrived"])
        assert int(seen["id"]) == seen["seq"] > opening["seq"] and seen["event"] == "situation"
        (arrival,) = seen["arrived"]
        assert sorted(arrival["ids"]) == ["MC-1", "MC-2", "MC-3"]
        (row,) = seen["windows"]["last_60_min"]["rows"]
        assert (row["place"], row["zone"], row["value"], row["n"]) == (
            h3.latlng_to_cell(43.29512, 5.37803, 9), "13201", 3.0, 3)
        assert seen["granted"] == {"level": "cell", "k": 11}

        theirs = analyst.until(lambda m: m["seq"] == seen["seq"])
        assert theirs["arrived"] is None and theirs["granted"] == {"level": "zone", "k": 11}
        (row,) = theirs["windows"]["last_60_min"]["rows"]
        assert (row["place"], row["value"], row["n"], row["suppressed"]) == (
            "13201", None, None, True)
    finally:
        operator.close()
        analyst.close()
    streams = [json.loads(r.what) for r in server.live.store.audit_rows()
               if "live_stream" in r.what]
    assert sorted(s["granted"] for s in streams) == ["cell", "zone"]


def test_the_stream_and_the_snapshot_are_refused_outside_their_roles(server: Server) -> None:
    for role, code in (("agent", 403), ("machine", 403), ("anonymous", 401)):
        headers = server.headers.get(role, {})
        assert httpx.get(f"{server.url}/api/v1/live/situation", headers=headers
                         ).status_code == code
        with httpx.stream("GET", f"{server.url}/api/v1/live/stream", headers=headers) as r:
            assert r.status_code == code
    bad_purpose = Stream(server, "operator", purpose="curiosity")
    assert bad_purpose.status.get(timeout=10) == 403
    bad_purpose.close()


def test_the_snapshot_is_released_and_audited(server: Server) -> None:
    push(server, "cctv", [cctv_event(f"ev-{i}", kind="fall", value=None) for i in range(12)])
    r = httpx.get(f"{server.url}/api/v1/live/situation", headers=server.headers["dpo"])
    assert r.status_code == 200
    (row,) = r.json()["windows"]["current_hour"]["rows"]
    assert (row["category"], row["value"], row["n"], row["suppressed"]) == (
        "fall", 12.0, None, False)
    last = server.live.store.audit_rows(1)[0]
    assert last.role == "dpo" and json.loads(last.what)["resource"] == "live_situation"
    assert last.rows_released == 2


@pytest.mark.slow
def test_a_reader_that_never_reads_does_not_hold_ingestion_back(server: Server) -> None:
    # A client with a tiny receive buffer that opens the stream and never reads a byte.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    token = server.headers["operator"]["Authorization"]
    stalled.sendall(f"GET /api/v1/live/stream HTTP/1.1\r\nHost: test\r\nAuthorization: {token}"
                    "\r\n\r\n".encode())
    reader = Stream(server, "operator")
    try:
        assert reader.status.get(timeout=10) == 200
        results = []
        for n in range(25):
            ids = [f"MC-{n}-{i}" for i in range(120)]
            r = push(server, "police_log", police_entries(ids, spread=n))
            results.append((r.status_code, r.json()["stored"]))
        # Every batch was committed while the stalled stream held its updates…
        assert results == [(200, 120)] * 25
        subs = server.live.hub.subscriptions()
        assert len(subs) == 2
        # …which it merged instead of queueing them all (its queue stays bounded)…
        assert max(s.merged for s in subs) > 0
        assert all(s.pending() <= s.capacity for s in subs)
        # …while the reading stream saw the last batch arrive.
        last = reader.until(lambda m: any("MC-24-119" in a["ids"] for a in m["arrived"] or []),
                            timeout=30)
        assert sum(r["n"] for r in last["windows"]["last_60_min"]["rows"]) == 25 * 120
    finally:
        reader.close()
        stalled.close()
