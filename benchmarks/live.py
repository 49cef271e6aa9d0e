"""Live ingestion end to end: MQTT publish → stored → visible on the SSE stream.

Run: ``.venv/bin/python benchmarks/live.py`` (needs Mosquitto at 127.0.0.1:1883; options:
``--rates 500 2000 --seconds 15``).

It starts ``belvedere serve --mqtt …`` as a separate process over a fresh store (20 cameras in
the reference folder), logs in as an operator and opens ``/api/v1/live/stream``. Then, for each
rate, it publishes CCTV analytics events (QoS 1) to the real broker at that sustained rate for
``--seconds`` and measures, per event:

- **end-to-end latency**: from just before ``publish`` to the moment its id is read on the SSE
  stream (validated by the CCTV connector, committed to the store, acknowledged to the broker,
  released to the operator's stream) — publisher and stream reader share this process's clock;
- **lost**: published but never stored; **doubled**: stored more than once, or announced more
  than once on the stream (both must be 0); stream misses are counted apart.

The reference, measured in the same run at the same rate: the broker round trip alone
(publish → a plain QoS-1 subscriber in this process receives it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rich.console import Console
from rich.table import Table

from belvedere.privacy.users import add_user
from belvedere.store.factory import open_store

HOST, PORT = "127.0.0.1", 1883
PASSWORD = "bench-operator-password"
CAMERAS = [{"camera_id": f"cam-{i:02d}", "name": f"camera {i}", "lat": 43.285 + 0.002 * (i % 5),
            "lon": 5.372 + 0.003 * (i // 5)} for i in range(20)]
console = Console(width=150)


def client(name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 65_535
    c.connect(HOST, PORT, properties=props)
    c.loop_start()
    return c


def paced(rate: float, seconds: float, publish: Callable[[int], None]) -> int:
    """Call ``publish(i)`` ``rate`` times a second for ``seconds``; returns how many."""
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        publish(i)
    return total


def event(event_id: str, i: int) -> bytes:
    return json.dumps({"event_id": event_id, "camera_id": CAMERAS[i % len(CAMERAS)]["camera_id"],
                       "type": "people_count", "window_s": 60, "value": i % 50,
                       "ts": datetime.now(UTC).isoformat(timespec="seconds")}).encode()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    p = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


def broker_round_trip(rate: float, seconds: float) -> list[float]:
    """Latency of publish → a plain QoS-1 subscriber (the broker alone)."""
    topic = f"bench-ref-{uuid.uuid4().hex[:8]}"
    sent: dict[int, float] = {}
    got: list[float] = []
    sub = client("bench-ref-sub")
    sub.on_message = lambda c, u, m: got.append(time.perf_counter() - sent[int(m.payload)])
    sub.subscribe(topic, qos=1)
    time.sleep(0.3)
    pub = client("bench-ref-pub")

    def publish(i: int) -> None:
        sent[i] = time.perf_counter()
        pub.publish(topic, str(i).encode(), qos=1)

    n = paced(rate, seconds, publish)
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return got


@dataclass
class Stream:
    """The operator's SSE stream: when each record id was first seen, and how often."""

    url: str
    token: str
    seen: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    coalesced: int = 0
    ready: queue.Queue[int] = field(default_factory=queue.Queue)

    def run(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stops at the end of the run
            self._read()

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=httpx.Timeout(30, read=None)) as http, http.stream(
                "GET", f"{self.url}/api/v1/live/stream", headers=headers) as response:
            self.ready.put(response.status_code)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                now = time.perf_counter()
                data = json.loads(line[5:])
                self.messages += 1
                self.coalesced += data["coalesced"]
                for arrival in data["arrived"] or []:
                    for record in arrival["ids"]:
                        self.counts[record] += 1
                        self.seen.setdefault(record, now)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--reference-seconds", type=float, default=5)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    prefix, client_id = f"bench-{run}", f"bench-{run}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "reference" / "cctv").mkdir(parents=True)
        (folder / "reference" / "cctv" / "cameras.json").write_text(json.dumps(CAMERAS))
        store_path = folder / "bench.duckdb"
        db = open_store(store_path)
        add_user(db, "bench-op", PASSWORD, role="operator")
        db.close()
        port = free_port()
        env = {**os.environ, "BELVEDERE_MQTT_CLIENT_ID": client_id,
               "BELVEDERE_MQTT_PREFIX": prefix,
               "BELVEDERE_LIVE_REFERENCE": str(folder / "reference"),
               "BELVEDERE_LIVE_DIR": str(folder / "live")}
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "belvedere"), "serve", "--store", str(store_path),
             "--port", str(port), "--mqtt", f"mqtt://{HOST}:{PORT}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = httpx.post(f"{url}/api/v1/auth/login",
                               data={"username": "bench-op", "password": PASSWORD}
                               ).json()["token"]
            stream = Stream(url, token)
            threading.Thread(target=stream.run, daemon=True).start()
            assert stream.ready.get(timeout=10) == 200
            publisher = client("bench-pub")
            topic = f"{prefix}/cctv/cam-00/events"
            # Warm up the connector, the store and the stream (first-use costs).
            publisher.publish(topic, event(f"warmup-{run}", 0), qos=1).wait_for_publish()
            time.sleep(2)

            for rate in args.rates:
                reference = broker_round_trip(rate, args.reference_seconds)
                sent: dict[str, float] = {}
                messages_before, coalesced_before = stream.messages, stream.coalesced

                def publish(i: int, rate: int = rate, sent: dict[str, float] = sent) -> None:
                    record = f"r{rate}-{i}"
                    payload = event(record, i)
                    sent[record] = time.perf_counter()
                    publisher.publish(topic, payload, qos=1)

                t = time.perf_counter()
                n = paced(rate, args.seconds, publish)
                achieved = n / (time.perf_counter() - t)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and sum(r in stream.seen for r in sent) < n:
                    time.sleep(0.1)
                latencies = [stream.seen[r] - t0 for r, t0 in sent.items() if r in stream.seen]
                rows.append({
                    "rate": rate, "achieved": achieved, "published": n,
                    "on_stream": len(latencies),
                    "stream_doubled": sum(1 for r in sent if stream.counts[r] > 1),
                    "latency": percentiles(latencies), "reference": percentiles(reference),
                    "messages": stream.messages - messages_before,
                    "coalesced": stream.coalesced - coalesced_before, "sent": sent,
                })
            publisher.disconnect()
            publisher.loop_stop()
        finally:
            server.terminate()
            server.wait(timeout=30)
        # The store, once the server has let it go: every published event exactly once?
        db = open_store(store_path)
        stored = Counter(r["source_id"] for r in db._arrow(
            "SELECT source_id FROM measurements").to_pylist())
        batches = db.batches().to_pylist()
        db.close()
    forget = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    forget.connect(HOST, PORT, clean_start=True)
    forget.disconnect()

    table = Table(title=f"Live ingestion: MQTT → store → SSE ({args.seconds:.0f} s per rate)")
    for col in ("msg/s (achieved)", "published", "lost", "doubled store/stream",
                "not on stream", "SSE msgs (coalesced)", "publish→SSE p50/p95/p99 ms",
                "broker alone p50/p95/p99 ms"):
        table.add_column(col, justify="right")
    for r in rows:
        lost = sum(1 for rec in r["sent"] if stored[rec] == 0)
        doubled = sum(1 for rec in r["sent"] if stored[rec] > 1)
        table.add_row(
            f"{r['rate']:,} ({r['achieved']:,.0f})", f"{r['published']:,}", f"{lost:,}",
            f"{doubled:,}/{r['stream_doubled']:,}", f"{r['published'] - r['on_stream']:,}",
            f"{r['messages']:,} ({r['coalesced']:,})",
            "/".join(f"{v:.0f}" for v in r["latency"]),
            "/".join(f"{v:.1f}" for v in r["reference"]))
    console.print(table)
    sizes = [b["rows_read"] for b in batches if b["source"] == "cctv"]
    console.print(f"{len(sizes):,} micro-batches, {np.mean(sizes):.0f} messages each on average "
                  f"(max {max(sizes):,})")


if __name__ == "__main__":
    main()
