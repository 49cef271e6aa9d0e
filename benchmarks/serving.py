"""Serving a room of operators: the real server under 20 concurrent dashboard users.

Run: ``.venv/bin/python benchmarks/serving.py`` (options: ``--seconds 60``, ``--clients 20``,
``--analysts 3`` of them, ``--backend duckdb|postgresql|both``, ``--workers N`` — passed to
``belvedere serve --workers N`` when N > 1 —, ``--pg postgresql://postgres@127.0.0.1:5432/
postgres`` — a role that may create databases —, ``--bare 40`` bare queries per route,
``--profile /tmp/serve`` to sample the server with py-spy during the run).

Per backend, in a temporary working directory:

1. ``belvedere demo --no-serve --no-backtest --days 28 --store URL`` builds the store (a DuckDB
   file there, or a new PostgreSQL database ``belvedere_bench_<random>``, dropped at the end
   even on error), with the demo logins;
2. ``belvedere serve --store URL --port <free> --mqtt ""`` runs as a subprocess (the environment
   as it is), until ``GET /api/v1/health`` answers 200;
3. every client logs in once (``POST /api/v1/auth/login``, form) and keeps one keep-alive
   connection with ``Authorization: Bearer <token>``. Operators loop over what the dashboard
   asks for one selection — the map (``/situation/map``, one feed, ``level`` zone then cell in
   turn), the timeline (``/situation/timeline``, by hour), the planned events (``/events``), an
   arrondissement's drill-down (``/situation/zone/{id}``), the live picture
   (``/live/situation``) and the alerts (``/alerts``) —, each cycle on a new feed, a new
   7-day window inside the data period (from ``/health``) and a new arrondissement. Analysts
   ask for the same figures, which the gate noises (ε per release charged to the purpose's
   daily budget, shared by all): their map, timeline and drill-down reads are rationed to the
   budget left, evenly over the run, and in between they read the live picture and the events
   (a refused release would be a 403, which this benchmark must not cause). Analysts do not read
   alerts (operators and the DPO only). First one operator alone asks each route 15 times,
   after one cycle of warm-up (the unloaded latency); then every client makes one cycle of
   warm-up (not timed) and all of them run together for ``--seconds``. The ``events`` feed is
   left out of the maps and timelines: an analyst's one answers 500 (see docs/benchmarks.md).

It prints, per backend: requests, req/s, p50/p95/p99 latency overall and per route, errors (any
non-2xx or failed request, with the answer's body), the CPU of the server process tree (and of
PostgreSQL's processes, of this client, and of the whole machine, from ``/proc``), the load
average; the access log counted before the server started and after it stopped
(``store.audit_rows()``), lines added against 2xx data answers (and the ledger's new rows
against the charged noised answers: a repeated request is answered again uncharged); then,
after the load, on the same store in this process, the store's own query for each route
(``store.situation`` with the query the gate passes it, ``planned_events``, ``alerts``)
replayed on a sample of the parameters the run used, and each route's p50 (1 client, and under
load) over the bare query's p50; and the targets (≥ 150 req/s and p95 ≤ 250 ms, on the
reference 2-core machine) with PASS or FAIL.

``--profile PREFIX`` runs py-spy (``pip install py-spy``) on the server during the load: 20 s
of every thread, idle ones included (``PREFIX-wall.txt``: where a request's wall time goes in
the worker threads), then 20 s of the threads py-spy sees active (``PREFIX-cpu.txt``, counted
less the samples waiting for a lock: about where the work is done, native code counted in its
Python caller), both as collapsed stacks
(flamegraph input; py-spy's ``--gil`` mode caught almost no sample here); it prints the share of
the functions of interest (release gate, access-log append, ledger, noise, store query, JSON
encoding…) and the top functions by own time. Profiled figures are marked as such.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import linecache
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
from databases import fresh_database
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from belvedere.api.routes.situation import BASELINE_WEEKS
from belvedere.grid.zones import arrondissements
from belvedere.privacy.ledger import period_of
from belvedere.privacy.policy import policy_for
from belvedere.privacy.purposes import registry as purposes
from belvedere.privacy.release import Actor, authorise, grant
from belvedere.sources.base import registry as _registry
from belvedere.store.base import SituationQuery, Store
from belvedere.store.factory import open_store

console = Console(width=160)
BELVEDERE = str(Path(sys.executable).parent / "belvedere")
USERS = {"operator": ("operateur", "demo-operateur-2024"),
         "analyst": ("analyste", "demo-analyste-2024")}
TARGET_RATE, TARGET_P95 = 150.0, 250.0
SERIAL_REPEATS = 15
WEEK = timedelta(days=7)
PURPOSE = "situation_monitoring"  # what every route in the mix declares by default
RESOURCE = {"map": "situation", "timeline": "situation", "zone": "situation",
            "live": "live_situation", "events": "events", "alerts": "alerts"}
"""The access-log resource each route's line carries."""
NOISED = ("map", "timeline", "zone")
"""The routes whose answers the gate noises for analysts (one ledger row each)."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
sources = _registry  # built once per process by belvedere itself


# -- the store and the server ----------------------------------------------------------------


def build_store(url: str, workdir: Path) -> float:
    """``belvedere demo --no-serve --no-backtest --days 28`` into ``url``; its seconds."""
    began = time.perf_counter()
    done = subprocess.run([BELVEDERE, "demo", "--no-serve", "--no-backtest", "--days", "28",
                           "--store", url], cwd=workdir, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"belvedere demo failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    return time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``belvedere serve``."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def serving(url: str, workdir: Path, workers: int) -> Iterator[Server]:
    """``belvedere serve`` on ``url`` until the block ends (SIGTERM, then SIGKILL after 30 s)."""
    port = free_port()
    cmd = [BELVEDERE, "serve", "--store", url, "--port", str(port), "--mqtt", ""]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"belvedere serve exited ({process.returncode}):\n"
                                 f"{server.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/api/v1/health", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"belvedere serve not healthy after 180 s:\n{server.tail()}")
            time.sleep(0.3)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# -- CPU from /proc --------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, float] | None:
    """``(comm, ppid, cpu seconds)`` of a process, or ``None`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    return comm, int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def _processes() -> dict[int, tuple[str, int, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))) is not None:
            out[int(entry)] = s
    return out


def _machine() -> tuple[float, float]:
    """Busy and total CPU seconds of the machine since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuSnapshot:
    at: float
    server: float
    postgres: dict[int, float]
    client: float
    busy: float
    total: float

    def postgres_since(self, before: CpuSnapshot) -> float:
        """CPU seconds PostgreSQL's processes used since ``before`` (those alive at the end:
        what a backend that exited in between used is counted with the other jobs)."""
        return sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in self.postgres.items())


def cpu_snapshot(root: int) -> CpuSnapshot:
    """CPU seconds used so far by the server's process tree, PostgreSQL's processes, this
    process, and the machine."""
    procs = _processes()
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (_, ppid, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    server = sum(procs[p][2] for p in tree if p in procs)
    postgres = {pid: s[2] for pid, s in procs.items() if s[0] in ("postgres", "postmaster")}
    times = os.times()
    busy, total = _machine()
    return CpuSnapshot(time.monotonic(), server, postgres, times.user + times.system, busy,
                       total)


# -- the clients -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One request of the mix: its route, the URL path and parameters, and what the store's own
    query for it takes (``bare``), for the operators' replay."""

    route: str
    path: str
    params: dict[str, str]
    bare: tuple[Any, ...] | None = None


@dataclass
class Sample:
    label: str
    route: str
    status: int
    seconds: float
    timed: bool
    bare: tuple[Any, ...] | None


@dataclass
class Mix:
    """The dashboard's requests: feeds, windows inside the data period, arrondissements."""

    start: datetime
    end: datetime
    feeds: list[str] = field(default_factory=lambda: sorted(
        n for n, s in sources().items() if s.info.kind != "planned_events"))
    zones: list[str] = field(default_factory=lambda: [z.zone_id for z in arrondissements()])

    def window(self, rng: random.Random) -> tuple[datetime, datetime]:
        days = max(0, (self.end - self.start - WEEK).days)
        first = self.start + timedelta(days=rng.randint(0, days))
        return first, first + WEEK

    def calls(self, rng: random.Random, role: str, cycle: int) -> list[Call]:
        """One dashboard cycle for ``role``."""
        feed, zone = rng.choice(self.feeds), rng.choice(self.zones)
        level = "zone" if cycle % 2 == 0 else "cell"
        start, end = self.window(rng)
        s, e = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (start, end))
        out = [Call("map", "/situation/map", {"source": feed, "level": level, "start": s,
                                              "end": e}, ("map", feed, level, start, end)),
               Call("timeline", "/situation/timeline",
                    {"source": feed, "start": s, "end": e, "bin": "hour"},
                    ("timeline", feed, start, end)),
               Call("events", "/events", {"start": s, "end": e}, ("events", start, end)),
               Call("zone", f"/situation/zone/{zone}", {"start": s, "end": e},
                    ("zone", zone, start, end)),
               Call("live", "/live/situation", {})]
        if role == "operator":
            out.append(Call("alerts", "/alerts", {}, ("alerts",)))
        return out


class Ration:
    """The analysts' noised reads: at most ``total`` over the run, released evenly in time."""

    def __init__(self, total: int, seconds: float) -> None:
        self.total, self.seconds, self.used = max(0, total), seconds, 0
        self.began: float | None = None
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.began is None:
                return False
            allowed = min(self.total, int(self.total * (time.monotonic() - self.began)
                                          / self.seconds) + 1)
            if self.used < allowed:
                self.used += 1
                return True
            return False


def login(http: httpx.Client, role: str) -> None:
    name, password = USERS[role]
    r = http.post("/auth/login", data={"username": name, "password": password})
    r.raise_for_status()
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"


@dataclass
class Client:
    """One dashboard user: a role, a keep-alive connection, its samples."""

    index: int
    role: str
    base: str
    mix: Mix
    ration: Ration
    samples: list[Sample] = field(default_factory=list)
    errors: list[tuple[str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"{self.base}/api/v1", timeout=120,
                                 limits=httpx.Limits(max_connections=1,
                                                     max_keepalive_connections=1))
        self.rng = random.Random(1000 + self.index)
        self.cycle = 0

    def call(self, call: Call, timed: bool) -> None:
        label = call.route if self.role == "operator" else f"{call.route} · analyst"
        began = time.perf_counter()
        try:
            r = self.http.get(call.path, params=call.params)
            status, body = r.status_code, r.text
        except httpx.HTTPError as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - began
        self.samples.append(Sample(label, call.route, status, seconds, timed,
                                   call.bare if self.role == "operator" else None))
        if not 200 <= status < 300:
            self.errors.append((label, status, f"{call.path} {call.params}: {body[:500]}"))

    def calls(self, warm: bool) -> list[Call]:
        calls = self.mix.calls(self.rng, self.role, self.cycle)
        self.cycle += 1
        if self.role == "operator":
            return calls
        # Analysts: a noised read only when the budget's ration allows one.
        out = []
        for c in calls:
            if c.route in NOISED and (warm or not self.ration.take()):
                instead = self.rng.choice(("live", "events"))
                c = next(x for x in calls if x.route == instead)
            out.append(c)
        return out

    def run(self, start: threading.Barrier, clock: dict[str, float]) -> None:
        """One warm-up cycle, then cycles until ``clock["stop"]`` (set before ``start``)."""
        for c in self.calls(warm=True):
            self.call(c, timed=False)
        start.wait()
        while True:
            for c in self.calls(warm=False):
                if time.monotonic() >= clock["stop"]:
                    return
                self.call(c, timed=True)


# -- the profile ----------------------------------------------------------------------------

INTEREST: list[tuple[str, str, str]] = [
    # (label, function name regex, file regex): inclusive shares, so rows overlap.
    ("route situation_map", r"^situation_map$", r"api/routes/situation"),
    ("route situation_timeline", r"^situation_timeline$", r"api/routes/situation"),
    ("route zone_drilldown", r"^zone_drilldown$", r"api/routes/situation"),
    ("route live_situation", r"^live_situation$", r"api/routes/live"),
    ("route events", r"^events$", r"api/routes/events"),
    ("route alerts", r"^alerts$", r"api/routes/alerts"),
    ("auth: get_actor()", r"^get_actor$", r"api/deps"),
    ("  session_actor() (session + user lookups)", r"^session_actor$", r"privacy/users"),
    ("situation_query() / resolve_window()", r"^(situation_query|resolve_window)$", r"api/"),
    ("store_status() (data_period, schema_version)", r"^store_status$", r"privacy/release"),
    ("sources.registry() (rebuilt at every call)", r"^registry$", r"belvedere/sources/base"),
    ("  importlib.metadata.entry_points()", r"^entry_points$", r"importlib/metadata"),
    ("  packaged mappings read (load_mapping)", r"^load_mapping$", r"belvedere/"),
    ("gate: release()", r"^release$", r"privacy/release"),
    ("gate: release_events()", r"^release_events$", r"privacy/release"),
    ("gate: release_alerts()", r"^release_alerts$", r"privacy/alerts"),
    ("gate: release_live_windows()", r"^release_live_windows$", r"privacy/live"),
    ("gate: authorise()", r"^authorise$", r"privacy/release"),
    ("gate: suppress()", r"^suppress$", r"privacy/release"),
    ("DP: ledger.charge()", r"^charge$", r"privacy/ledger"),
    ("DP: noise_situation()", r"^noise_situation$", r"privacy/dp"),
    ("access log: audit.record()", r"^record$", r"privacy/audit"),
    ("  store.append_audit_line()", r"append_audit_line$", r"belvedere/store/"),
    ("  pseudonym()", r"^pseudonym$", r"privacy/audit"),
    ("  sign_head()", r"^sign_head$", r"privacy/audit"),
    ("store.situation() (the query)", r"(^|\.)situation$", r"belvedere/store/"),
    ("  ibis expression (store/queries.py)", r"^(situation|observations)$",
     r"belvedere/store/queries"),
    ("  SQL compile (ibis → sqlglot)", r".", r"sqlglot/|ibis/backends/sql/"),
    ("  DuckDB execution (duckdb submit)", r"^submit$", r"duckdb/"),
    ("  PostgreSQL round trip (psycopg)", r".", r"psycopg/"),
    ("store.planned_events()", r"planned_events$", r"belvedere/store/"),
    ("store.alerts()", r"(^|\.)alerts$", r"belvedere/store/"),
    ("geojson: cells_geojson()", r"^cells_geojson$", r"belvedere/grid/"),
    ("geojson: zones_geojson()", r"^zones_geojson$", r"belvedere/grid/"),
    ("FastAPI solve_dependencies()", r"^solve_dependencies$", r"fastapi/"),
    ("FastAPI serialize_response() (validation + JSON)", r"^serialize_response$",
     r"fastapi/routing"),
    ("  pydantic dump_json", r"dump_json$", r"pydantic/"),
    ("HTTP protocol (uvicorn h11, h11)", r".", r"uvicorn/protocols|^h11/"),
]
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def _frames(stack: str) -> list[tuple[str, str, int]]:
    out = []
    for raw in stack.split(";"):
        m = FRAME.match(raw)
        out.append((m["name"], m["file"], int(m["line"] or 0)) if m else (raw, "", 0))
    return out


def read_profile(path: Path) -> list[tuple[list[tuple[str, str, int]], int]]:
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((_frames(stack), int(count)))
    return out


def _kind(frames: list[tuple[str, str, int]]) -> str:
    """worker busy / worker idle / loop busy / loop idle / other, for one sample's stack."""
    for i, (name, _, _) in enumerate(frames):
        if name.endswith("WorkerThread.run"):
            rest = frames[i + 1:]
            idle = not rest or rest[0][1].endswith("queue.py")
            return "worker idle" if idle else "worker busy"
    if any(n.endswith("_run_once") for n, _, _ in frames):
        idle = frames[-1][1].endswith("selectors.py")
        return "loop idle" if idle else "loop busy"
    return "other"


def _matches(frames: list[tuple[str, str, int]], name_re: str, file_re: str) -> bool:
    name, file = re.compile(name_re), re.compile(file_re)
    return any(name.search(n) and file.search(f) for n, f, _ in frames)


ROOT = Path(__file__).resolve().parents[1]
WAITS = ("Condition.wait", "socket.accept", "EpollSelector.select", "Event.wait")
"""Leaf functions that wait (py-spy's idle detection does not always see them)."""


def _source(file: str, line: int) -> str:
    return linecache.getline(str(ROOT / file), line) if file.startswith("belvedere/") else ""


def _lock_wait(frames: list[tuple[str, str, int]]) -> str | None:
    """What a sample waits for, when it waits for one of the store's serialising locks or
    for a pooled connection: ``None`` otherwise."""
    name, file, line = frames[-1]
    if "_write_lock" in _source(file, line):
        return "waiting: DuckDB store's write lock (with self._write_lock)"
    inner = [(n, f, ln) for n, f, ln in frames if f.startswith("belvedere/")]
    if not inner:
        return None
    n, f, ln = inner[-1]
    if "pg_advisory_xact_lock" in _source(f, ln) and file.startswith("psycopg/"):
        return "waiting: PostgreSQL advisory lock (pg_advisory_xact_lock), answer included"
    if n.endswith("_connection") and name == "Condition.wait":
        return "waiting: a connection of the PostgreSQL pool"
    return None


def profile_tables(path: Path, *, only_busy_workers: bool, title: str) -> list[Table]:
    """Shares of the functions of interest, inclusive, and the top functions (and lines) by
    own time: of the busy worker threads' samples (``only_busy_workers``: where a request's
    wall time goes), or else of the samples neither idle nor waiting for a lock (about where
    the work is done; a thread waiting for the GIL still counts there)."""
    samples = read_profile(path)
    kinds: Counter[str] = Counter()
    for frames, n in samples:
        kinds[_kind(frames)] += n
    if only_busy_workers:
        pool = [(f, n) for f, n in samples if _kind(f) == "worker busy"]
        what = "busy worker-thread"
    else:
        pool = [(f, n) for f, n in samples if _kind(f) not in ("worker idle", "loop idle")
                and f[-1][0] not in WAITS and _lock_wait(f) is None]
        what = "active (not idle, not waiting for a lock)"
    total = sum(n for _, n in pool) or 1
    every = sum(kinds.values()) or 1
    head = Table(title=f"{title}: samples by thread state ({every:,} samples)")
    head.add_column("thread state")
    head.add_column("samples", justify="right")
    head.add_column("share", justify="right")
    for kind, n in kinds.most_common():
        head.add_row(kind, f"{n:,}", f"{100 * n / every:.1f} %")
    t = Table(title=f"{title}: inclusive share of {total:,} {what} samples")
    t.add_column("function")
    t.add_column("share", justify="right")
    for label, name_re, file_re in INTEREST:
        n = sum(c for f, c in pool if _matches(f, name_re, file_re))
        if n:
            t.add_row(escape(label), f"{100 * n / total:.1f} %")
    waits: Counter[str] = Counter()
    for f, n in pool:
        if (why := _lock_wait(f)) is not None:
            waits[why] += n
    for why, n in sorted(waits.items()):
        t.add_row(escape(why), f"{100 * n / total:.1f} %")
    own: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for frames, n in pool:
        name, file, line = frames[-1]
        own[f"{name} ({file})"] += n
        lines[f"{name} ({file}:{line})"] += n
    top = Table(title=f"{title}: top functions by own time")
    top.add_column("function (file)")
    top.add_column("share", justify="right")
    for key, n in own.most_common(20):
        top.add_row(escape(key), f"{100 * n / total:.1f} %")
    top_lines = Table(title=f"{title}: top lines by own time")
    top_lines.add_column("function (file:line)")
    top_lines.add_column("share", justify="right")
    for key, n in lines.most_common(12):
        top_lines.add_row(escape(key), f"{100 * n / total:.1f} %")
    return [head, t, top, top_lines]


def print_profiles(backend: str, paths: list[Path]) -> None:
    for path in paths:
        wall_mode = path.name.endswith("-wall.txt")
        for t in profile_tables(path, only_busy_workers=wall_mode,
                                title=f"{backend} py-spy {'wall' if wall_mode else 'on-CPU'}"):
            console.print(t)
        console.print(f"collapsed stacks: {path}")


def py_spy() -> str | None:
    exe = Path(sys.executable).parent / "py-spy"
    return str(exe) if exe.exists() else None


def profile_server(pid: int, prefix: str, seconds: float, workers: int) -> list[Path]:
    """py-spy, every thread idle included for ``seconds``, then the threads on a CPU only."""
    exe = py_spy()
    if exe is None:
        console.print("[yellow]py-spy not installed (.venv/bin/pip install py-spy): "
                      "no profile[/yellow]")
        return []
    out = []
    for mode, extra in (("wall", ["--idle"]), ("cpu", [])):
        path = Path(f"{prefix}-{mode}.txt")
        cmd = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format",
               "raw", "-o", str(path), *extra]
        if workers > 1:
            cmd.append("--subprocesses")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode or not path.exists():
            console.print(f"[yellow]py-spy {mode} failed: {done.stderr[-500:]}[/yellow]")
            continue
        out.append(path)
    return out


# -- the bare queries -------------------------------------------------------------------------


def bare_call(store: Store, key: tuple[Any, ...]) -> None:
    """The store's own query behind one operator request (the query the gate passes it)."""
    operator = Actor("operateur", "operator")
    kind = key[0]
    if kind in ("map", "timeline"):
        feed, start, end = key[1], key[-2], key[-1]
        metric = sources()[feed].info.metric
        q = SituationQuery(start=start, end=end, sources=(feed,), metrics=(metric,),
                           by_category=False, resolution=9,
                           level=key[2] if kind == "map" else "city",
                           bin="window" if kind == "map" else "hour")
        policy, _ = authorise(operator, PURPOSE, outputs=("situation",), datasets=q.sources)
        store.situation(grant(q, policy))
    elif kind == "zone":
        _, zone, start, end = key
        metrics = tuple(sorted({s.info.metric for s in sources().values()}))
        q = SituationQuery(start=start - timedelta(weeks=BASELINE_WEEKS), end=end,
                           level="zone", bin="hour", zones=(zone,), metrics=metrics,
                           by_category=False)
        reg = purposes()
        row = reg.authorise("operator", PURPOSE, outputs=("situation",))
        if not q.sources and (row.noised or not set(reg.datasets) <= set(row.datasets)):
            q = replace(q, sources=row.datasets)
        store.situation(grant(q, policy_for("operator")))
    elif kind == "events":
        store.planned_events(key[1], key[2])
    elif kind == "alerts":
        store.alerts(None)


def bare_times(store: Store, keys: dict[str, list[tuple[Any, ...]]], n: int
               ) -> dict[str, list[float]]:
    """Seconds of each route's bare query over up to ``n`` of its recorded parameter sets."""
    out: dict[str, list[float]] = {}
    rng = random.Random(7)
    for label, found in sorted(keys.items()):
        sample = rng.sample(found, min(n, len(found)))
        for key in sample[:3]:
            bare_call(store, key)  # warm-up: the connection, ibis' schemas, DuckDB's caches
        times = []
        for key in sample:
            began = time.perf_counter()
            bare_call(store, key)
            times.append(time.perf_counter() - began)
        out[label] = times
    return out


# -- one backend ------------------------------------------------------------------------------


def pct(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    p = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


@dataclass
class LogCount:
    """The access log and the ledger of a store, counted."""

    lines: int
    resources: Counter[str]
    charged: int  # situation lines of a noised release that was charged (names a ledger row)
    repeats: int  # situation lines of a repeated noised release (names the one it repeats)
    ledger: int


def audit_counts(url: str) -> LogCount:
    """Access-log lines (total, per resource, noised ones charged or repeated) and ledger rows
    of the store at ``url``."""
    store = open_store(url)
    try:
        rows = [json.loads(r.what) for r in store.audit_rows()]
        situation = [w for w in rows if w.get("resource") == "situation"]
        return LogCount(len(rows), Counter(str(w.get("resource")) for w in rows),
                        sum(1 for w in situation if w.get("ledger") is not None),
                        sum(1 for w in situation if w.get("repeat_of") is not None),
                        len(store.ledger_rows()))
    finally:
        store.close()


def analyst_budget(url: str) -> tuple[int, float, float, float]:
    """How many noised releases analysts may still get today for :data:`PURPOSE`:
    ``(releases, ε each, cap, spent)``."""
    reg = purposes()
    row = reg.authorise("analyst", PURPOSE, outputs=("situation",))
    budget = reg.purposes[PURPOSE].budget
    if not row.noised or budget is None or not row.epsilon:
        return 10**9, 0.0, 0.0, 0.0
    store = open_store(url)
    try:
        now = period_of(datetime.now(UTC), budget.period)
        spent = sum(r.epsilon for r in store.ledger_rows(purpose=PURPOSE) if r.period == now)
    finally:
        store.close()
    left = int((budget.epsilon - spent) / row.epsilon + 1e-9)
    return max(0, left - 2), float(row.epsilon), budget.epsilon, spent


@dataclass
class Outcome:
    backend: str
    requests: int
    rate: float
    p95: float
    errors: int


def run_backend(backend: str, url: str, workdir: Path, args: argparse.Namespace) -> Outcome:
    console.rule(f"[bold]{backend}[/bold]")
    seconds_build = build_store(url, workdir)
    before = audit_counts(url)
    noised_left, eps, cap, spent = analyst_budget(url)
    console.print(f"store built by `belvedere demo --days 28` in {seconds_build:.1f} s; "
                  f"access log {before.lines:,} lines; analysts' budget for {PURPOSE!r}: "
                  f"cap ε = {cap:g}/day, spent {spent:g}, ε = {eps:g} per release → "
                  f"{noised_left} noised reads rationed over the run")
    analysts = min(args.analysts, args.clients)
    roles = ["analyst" if i < analysts else "operator" for i in range(args.clients)]
    profiles: list[Path] = []
    with serving(url, workdir, args.workers) as server:
        health = httpx.get(f"{server.url}/api/v1/health", timeout=10).json()
        period = health["data_period"]
        mix = Mix(datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"]))
        console.print(f"server pid {server.process.pid} on {server.url}; data "
                      f"{period['start']} → {period['end']}; {len(mix.feeds)} feeds, "
                      f"{len(mix.zones)} arrondissements")
        ration = Ration(noised_left, args.seconds)
        clients = [Client(i, role, server.url, mix, ration) for i, role in enumerate(roles)]
        for c in clients:
            login(c.http, c.role)
        # One operator alone: the unloaded latency of each route.
        serial = Client(10_000, "operator", server.url, mix, ration)
        login(serial.http, "operator")
        for i in range(SERIAL_REPEATS + 1):
            for call in serial.calls(warm=True):
                serial.call(call, timed=i > 0)  # the first cycle warms up
        # All together: the clock starts once every client has warmed up.
        load_before = os.getloadavg()
        barrier = threading.Barrier(len(clients) + 1)
        clock: dict[str, float] = {}
        threads = [threading.Thread(target=c.run, args=(barrier, clock), daemon=True)
                   for c in clients]
        for t in threads:
            t.start()
        while barrier.n_waiting < len(clients):
            if not all(t.is_alive() for t in threads):
                barrier.abort()
                raise SystemExit("a client failed while warming up (its traceback above)")
            time.sleep(0.05)
        began = time.monotonic()
        clock["stop"] = began + args.seconds
        ration.began = began
        cpu0 = cpu_snapshot(server.process.pid)
        barrier.wait()
        spy: threading.Thread | None = None
        if args.profile:
            span = min(20.0, max(2.0, (args.seconds - 10) / 2))

            def spying() -> None:
                time.sleep(min(5.0, args.seconds / 10))
                prefix = args.profile + (f"-{backend}" if args.backend == "both" else "")
                profiles.extend(profile_server(server.process.pid, prefix, span, args.workers))

            spy = threading.Thread(target=spying, daemon=True)
            spy.start()
        for t in threads:
            t.join()
        ended = time.monotonic()
        cpu1 = cpu_snapshot(server.process.pid)
        load_after = os.getloadavg()
        if spy is not None:
            spy.join()
        for c in [*clients, serial]:
            c.http.close()
    after = audit_counts(url)

    # -- figures --
    wall = ended - began
    timed = [s for c in clients for s in c.samples if s.timed]
    every = [s for c in [*clients, serial] for s in c.samples]
    errors = [e for c in [*clients, serial] for e in c.errors]
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for s in timed:
        by_label[s.label].append(s)
    bad = sum(1 for s in timed if not 200 <= s.status < 300)
    p50, p95, p99 = pct([s.seconds for s in timed])
    rate = len(timed) / wall
    profiled = " [yellow](profiled: py-spy sampling during the run)[/yellow]" if (
        args.profile) else ""
    table = Table(title=f"{backend}: {args.clients} clients ({analysts} analysts), "
                        f"{wall:.1f} s{profiled}")
    for col in ("route", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(col, justify="left" if col == "route" else "right")
    order = ["map", "timeline", "zone", "events", "live", "alerts"]
    labels = sorted(by_label, key=lambda x: (" · " in x, order.index(x.split(" · ")[0])))
    for label in labels:
        xs = by_label[label]
        a, b, c_ = pct([s.seconds for s in xs])
        nbad = sum(1 for s in xs if not 200 <= s.status < 300)
        table.add_row(label, f"{len(xs):,}", f"{len(xs) / wall:.1f}", f"{a:.0f}", f"{b:.0f}",
                      f"{c_:.0f}", str(nbad))
    table.add_section()
    table.add_row("[bold]all[/bold]", f"{len(timed):,}", f"[bold]{rate:.1f}[/bold]",
                  f"{p50:.0f}", f"[bold]{p95:.0f}[/bold]", f"{p99:.0f}", str(bad))
    console.print(table)

    cores = os.cpu_count() or 1
    cpu = Table(title=f"{backend}: CPU during the timed run ({cores} cores)")
    for col in ("process", "CPU s", "cores used", "share of machine", "CPU ms / request"):
        cpu.add_column(col, justify="left" if col == "process" else "right")
    machine_busy = cpu1.busy - cpu0.busy
    machine_total = cpu1.total - cpu0.total
    parts = [("belvedere serve (process tree)", cpu1.server - cpu0.server),
             ("PostgreSQL processes (all databases)", cpu1.postgres_since(cpu0)),
             ("this benchmark's clients", cpu1.client - cpu0.client)]
    for name, used in parts:
        cpu.add_row(name, f"{used:.1f}", f"{used / wall:.2f}", f"{100 * used / wall / cores:.0f} %",
                    f"{1000 * used / max(len(timed), 1):.1f}")
    other = machine_busy - sum(u for _, u in parts)
    cpu.add_row("other jobs on the machine", f"{other:.1f}", f"{other / wall:.2f}",
                f"{100 * other / wall / cores:.0f} %", "")
    cpu.add_section()
    cpu.add_row("machine busy", f"{machine_busy:.1f}", f"{machine_busy / wall:.2f}",
                f"{100 * machine_busy / max(machine_total, 1e-9):.0f} %", "")
    console.print(cpu)
    console.print("load average (1, 5, 15 min): before "
                  f"{', '.join(f'{x:.2f}' for x in load_before)}; after "
                  f"{', '.join(f'{x:.2f}' for x in load_after)}")

    # The access log: one line per answered data read.
    answered: Counter[str] = Counter(RESOURCE[s.route] for s in every if 200 <= s.status < 300)
    log = Table(title=f"{backend}: access log, lines added while serving vs 2xx data answers "
                      "(warm-up and 1-client pass included)")
    for col in ("resource", "lines added", "2xx answers", "check"):
        log.add_column(col, justify="left" if col == "resource" else "right")
    for resource in sorted(set(answered) | set(after.resources) - set(before.resources)):
        added = after.resources[resource] - before.resources[resource]
        log.add_row(resource, f"{added:,}", f"{answered[resource]:,}", check(added,
                                                                             answered[resource]))
    log.add_section()
    total_answers = sum(answered.values())
    log.add_row("all", f"{after.lines - before.lines:,}", f"{total_answers:,}",
                check(after.lines - before.lines, total_answers))
    noised = sum(1 for s in every if s.label.endswith("analyst") and s.route in NOISED
                 and 200 <= s.status < 300)
    charged, repeats = after.charged - before.charged, after.repeats - before.repeats
    log.add_row("analysts' noised answers: lines charged + lines repeating one",
                f"{charged:,} + {repeats:,}", f"{noised:,}", check(charged + repeats, noised))
    log.add_row("ledger rows added vs lines charged", f"{after.ledger - before.ledger:,}",
                f"{charged:,}", check(after.ledger - before.ledger, charged))
    console.print(log)

    # Route time over the store's own query, for the operators' routes.
    keys: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for s in timed:
        if s.bare is not None:
            keys[bare_label(s.bare)].append(s.bare)
    store = open_store(url)
    try:
        bare = bare_times(store, keys, args.bare)
    finally:
        store.close()
    serial_by: dict[str, list[float]] = defaultdict(list)
    for s in (x for x in serial.samples if x.timed):
        if s.bare is not None:
            serial_by[bare_label(s.bare)].append(s.seconds)
    load_by: dict[str, list[float]] = defaultdict(list)
    for s in timed:
        if s.bare is not None:
            load_by[bare_label(s.bare)].append(s.seconds)
    ratio = Table(title=f"{backend}: operators' route p50 over the bare store query's p50 "
                        f"(same parameters, {args.bare} replayed in this process after the load)")
    for col in ("route", "bare query", "bare p50 ms", "route p50 ms, 1 client", "ratio",
                f"route p50 ms, {args.clients} clients", "ratio "):
        ratio.add_column(col, justify="left" if col in ("route", "bare query") else "right")
    what = {"map zone": "store.situation(zone × window)",
            "map cell": "store.situation(cell r9 × window)",
            "timeline": "store.situation(city × hour)",
            "zone": "store.situation(zone, 5 weeks × hour, every metric)",
            "events": "store.planned_events(start, end)",
            "alerts": "store.alerts()"}
    for label in ("map zone", "map cell", "timeline", "zone", "events", "alerts"):
        if label not in bare:
            continue
        b = pct(bare[label])[0]
        one = pct(serial_by.get(label, []))[0]
        many = pct(load_by.get(label, []))[0]
        ratio.add_row(label, what[label], f"{b:.1f}", f"{one:.1f}", f"{one / b:.1f}×",
                      f"{many:.0f}", f"{many / b:.1f}×")
    live_one = pct([s.seconds for s in serial.samples if s.timed and s.route == "live"])[0]
    live_many = pct([s.seconds for s in timed if s.label == "live"])[0]
    ratio.add_row("live", "none (the picture is in memory)", "—", f"{live_one:.1f}", "—",
                  f"{live_many:.0f}", "—")
    console.print(ratio)

    if errors:
        err = Table(title=f"{backend}: errors (first of each route × status)")
        err.add_column("route")
        err.add_column("status", justify="right")
        err.add_column("count", justify="right")
        err.add_column("body")
        counts = Counter((label, status) for label, status, _ in errors)
        seen: set[tuple[str, int]] = set()
        for label, status, body in errors:
            if (label, status) not in seen:
                seen.add((label, status))
                err.add_row(label, str(status), str(counts[(label, status)]), escape(body))
        console.print(err)
    else:
        console.print(f"{backend}: 0 errors ({len(every):,} requests, all 2xx)")

    targets = Table(title=f"{backend}: targets (2-core reference machine)")
    for col in ("target", "measured", "verdict"):
        targets.add_column(col)
    verdict = ("[green]PASS[/green]", "[red]FAIL[/red]")
    targets.add_row("throughput ≥ 150 req/s", f"{rate:.1f} req/s",
                    verdict[rate < TARGET_RATE])
    targets.add_row("p95 ≤ 250 ms", f"{p95:.0f} ms", verdict[p95 > TARGET_P95])
    targets.add_row("0 errors", str(len(errors)), verdict[bool(errors)])
    console.print(targets)

    print_profiles(backend, profiles)
    return Outcome(backend, len(timed), rate, p95, len(errors))


def check(got: int, expected: int) -> str:
    return "[green]ok[/green]" if got == expected else "[red]MISMATCH[/red]"


def bare_label(key: tuple[Any, ...]) -> str:
    return f"map {key[2]}" if key[0] == "map" else str(key[0])


def revision() -> str:
    """The commit the code under test is at, and whether ``belvedere/`` differs from it."""
    here = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "belvedere"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(no git)"
    return f"{head}{' + uncommitted changes in belvedere/' if dirty else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--analysts", type=int, default=3,
                        help="how many of the clients are analysts (the rest operators)")
    parser.add_argument("--backend", choices=("duckdb", "postgresql", "both"), default="both")
    parser.add_argument("--workers", type=int, default=1,
                        help="passed to `belvedere serve --workers N` when N > 1")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL of a role that may create databases")
    parser.add_argument("--bare", type=int, default=40, help="bare queries per route")
    parser.add_argument("--profile", default="",
                        help="py-spy the server during the run into PREFIX-wall/-gil.txt")
    parser.add_argument("--analyse", default="", metavar="PREFIX",
                        help="only print the tables of PREFIX-wall.txt and PREFIX-cpu.txt")
    args = parser.parse_args()
    if args.analyse:
        print_profiles(args.analyse, [p for p in (Path(f"{args.analyse}-wall.txt"),
                                                  Path(f"{args.analyse}-cpu.txt")) if p.exists()])
        return
    # Stopped by a signal, still stop the server and drop the database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backends = ["duckdb", "postgresql"] if args.backend == "both" else [args.backend]
    load = os.getloadavg()
    cpu_model = next((line.split(":", 1)[1].strip() for line in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    console.print(f"[bold]belvedere serving benchmark[/bold] — {datetime.now(UTC):%Y-%m-%d %H:%M}"
                  f" UTC; {os.cpu_count()} cores ({cpu_model}), {mem:.0f} GiB; load average "
                  f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; workers {args.workers}; "
                  f"Python {platform.python_version()}; belvedere {revision()}")
    outcomes = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"belvedere-serving-{backend}-") as tmp:
            workdir = Path(tmp)
            if backend == "duckdb":
                outcomes.append(run_backend(backend, str(workdir / "store.duckdb"), workdir,
                                            args))
            else:
                with fresh_database(args.pg, dropped=lambda name: console.print(
                        f"dropped database {name}")) as url:
                    outcomes.append(run_backend(backend, url, workdir, args))
    summary = Table(title="Summary (targets: ≥ 150 req/s, p95 ≤ 250 ms, 0 errors)")
    for col in ("backend", "requests", "req/s", "p95 ms", "errors", "verdict"):
        summary.add_column(col, justify="left" if col == "backend" else "right")
    for o in outcomes:
        passed = o.rate >= TARGET_RATE and o.p95 <= TARGET_P95 and not o.errors
        summary.add_row(o.backend, f"{o.requests:,}", f"{o.rate:.1f}", f"{o.p95:.0f}",
                        str(o.errors), "[green]PASS[/green]" if passed else "[red]FAIL[/red]")
    console.print(summary)


if __name__ == "__main__":
    main()
