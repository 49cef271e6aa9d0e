"""Access-log appends per second with one writer and with eight, on each backend.

Run: ``.venv/bin/python benchmarks/audit_writers.py`` (options: ``--lines 3000`` per
configuration, ``--writers 8``, ``--repeat 3``,
``--pg postgresql://postgres@127.0.0.1:5432/postgres`` — a role that may create databases;
``--no-pg`` for DuckDB alone).

Every append is what the API does when it releases data: :func:`belvedere.privacy.audit.record`
with ``action="consultation"`` (the user's keyed pseudonym, the line's canonical JSON and hash
chained to the newest line, appended through the store's serialised
:meth:`~belvedere.store.base.Store.append_audit_line`, and a tree head signed every
``audit_sign_every`` lines, 1000 by default). Configurations, each on a fresh store:

- **DuckDB file**, 1 writer, then 8 writer *threads* in one process: an embedded DuckDB file
  admits one writer process (a second one cannot open it), so threads are its only concurrency;
- **PostgreSQL** (a fresh database ``belvedere_bench_<random>`` per configuration, dropped at the
  end even on error), 1 writer process, then 8 writer *processes* (multiprocessing, spawn) each
  opening the store by URL; 8 threads in one process is measured too, for comparison.

Writers open their store first and start together; ``--lines`` appends are shared among them.
The time runs from the start signal to the last writer's last append. The configurations are
run ``--repeat`` times, interleaved (on a shared machine the load moves); the best run of each
is shown with all the others' rates, and the ratio is best to best. After each run the chain
is checked with :func:`belvedere.privacy.audit.verify` (hashes, links, Merkle tree, every signed
head) and the line count with what was appended.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np
from databases import fresh_database
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from belvedere.errors import StoreBusy
from belvedere.privacy import audit
from belvedere.settings import setting
from belvedere.sources.ingest import pseudonymiser_for
from belvedere.store.base import Store
from belvedere.store.factory import open_store

console = Console(width=160)


@dataclass(frozen=True, slots=True)
class Run:
    """One configuration's outcome."""

    backend: str
    writers: str
    lines: int
    seconds: float
    latencies: np.ndarray  # seconds per append, every writer
    verdict: str
    intact: bool

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def _append(store: Store, writer: int, count: int) -> list[float]:
    """``count`` access-log lines as the API writes them for a data read; each one's time."""
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        audit.record(store, actor=f"analyst-{writer}-{i % 20}", role="analyst",
                     purpose="analysis", action="consultation",
                     what={"resource": "situation", "granted": "zone × day", "k": 10,
                           "suppressed": i % 7, "writer": writer, "i": i},
                     rows_released=i % 400)
        latencies.append(time.perf_counter() - started)
    return latencies


def _process_writer(url: str, writer: int, count: int, ready: Any, start: Event,
                    results: Any) -> None:
    """A writer process: open the store by URL, wait for the start, append, report."""
    try:
        store = open_store(url)
        ready.put(writer)
        start.wait()
        latencies = _append(store, writer, count)
        results.put((writer, time.monotonic(), latencies, None))
        store.close()
    except BaseException as exc:  # reported to the parent, which fails the run
        ready.put(writer)
        results.put((writer, time.monotonic(), [], repr(exc)))


def _second_opener(path: str, results: Any) -> None:
    """Try to open a DuckDB file another process holds; report what happened."""
    try:
        open_store(path).close()
        results.put("opened (a second writer process was admitted)")
    except StoreBusy as exc:
        results.put(f"refused: StoreBusy ({str(exc).splitlines()[0][:70]}…)")
    except BaseException as exc:
        results.put(f"failed otherwise: {exc!r}")


def second_process(path: Path) -> str:
    """What a second process gets when it opens the DuckDB file this process holds."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    p = ctx.Process(target=_second_opener, args=(str(path), results))
    p.start()
    try:
        return str(results.get(timeout=120))
    finally:
        p.join(timeout=60)


def with_processes(url: str, writers: int, lines: int, bar: Progress) -> tuple[float, list[float]]:
    """``lines`` appends shared by ``writers`` spawned processes; ``(seconds, latencies)``."""
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    shares = [lines // writers + (1 if w < lines % writers else 0) for w in range(writers)]
    procs = [ctx.Process(target=_process_writer, args=(url, w, shares[w], ready, start, results))
             for w in range(writers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        task = bar.add_task(f"  {writers} process(es) appending", total=writers)
        t0 = time.monotonic()
        start.set()
        ends, latencies, errors = [], [], []
        for _ in procs:
            _, end, lat, error = results.get(timeout=3600)
            ends.append(end)
            latencies += lat
            if error:
                errors.append(error)
            bar.advance(task)
        bar.remove_task(task)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    if errors:
        raise RuntimeError(f"writer failed: {errors[0]}")
    return max(ends) - t0, latencies


def with_threads(store: Store, writers: int, lines: int, bar: Progress
                 ) -> tuple[float, list[float]]:
    """``lines`` appends shared by ``writers`` threads over one store; ``(seconds, latencies)``."""
    shares = [lines // writers + (1 if w < lines % writers else 0) for w in range(writers)]
    barrier = threading.Barrier(writers + 1)
    out: list[list[float]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []

    def work(w: int) -> None:
        barrier.wait()
        try:
            out[w] = _append(store, w, shares[w])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    task = bar.add_task(f"  {writers} thread(s) appending", total=None)
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    bar.remove_task(task)
    if errors:
        raise errors[0]
    return elapsed, [x for lat in out for x in lat]


def checked(store: Store, expected: int) -> tuple[str, bool]:
    """The project's verification of the chain, and the line count."""
    result = audit.verify(store)
    if result.ok and result.lines == expected:
        return f"intact: {result.lines:,} lines, {result.heads} heads", True
    problems = "; ".join(str(p) for p in result.problems[:3]) or "no problem found"
    return (f"BROKEN: {result.lines:,} lines for {expected:,} appended; {problems}"), False


def prepare(store: Store) -> None:
    """Create the deployment's keys once, before writers start: several processes creating
    the same key file at once would race (the file is created exclusively)."""
    pseudonymiser_for(store)
    audit.signing_key(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000, help="appends per configuration")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds over every configuration, interleaved; the best is kept")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    n, many = args.lines, args.writers
    runs: dict[tuple[str, str], list[Run]] = {}

    with tempfile.TemporaryDirectory(prefix="belvedere-audit-bench-") as tmp, \
            Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                     TimeElapsedColumn(), console=console, transient=True,
                     disable=not console.is_terminal) as bar:
        # PostgreSQL deployments keep their key files in BELVEDERE_HOME: here, inherited by
        # the spawned writers.
        os.environ["BELVEDERE_HOME"] = str(Path(tmp) / "home")

        def duckdb_run(writers: int, round_: int) -> Run:
            path = Path(tmp) / f"audit-{writers}-{round_}.duckdb"
            store = open_store(path)
            try:
                prepare(store)
                if writers == 1 and round_ == 0:
                    console.print(f"  DuckDB file held by this process; a second process "
                                  f"opening it: {second_process(path)}")
                seconds, lat = with_threads(store, writers, n, bar)
                verdict, ok = checked(store, n)
            finally:
                store.close()
            label = "1 (one process)" if writers == 1 else f"{writers} threads, one process"
            return Run("DuckDB file", label, n, seconds, np.array(lat), verdict, ok)

        def pg_run(writers: int, round_: int, *, threads: bool = False) -> Run:
            del round_  # a fresh database each time
            with fresh_database(args.pg) as url:
                store = open_store(url)
                try:
                    prepare(store)
                    if threads:
                        seconds, lat = with_threads(store, writers, n, bar)
                    else:
                        seconds, lat = with_processes(url, writers, n, bar)
                    verdict, ok = checked(store, n)
                finally:
                    store.close()
            label = (f"{writers} threads, one process" if threads else
                     "1 (one process)" if writers == 1 else f"{writers} processes")
            return Run("PostgreSQL", label, n, seconds, np.array(lat), verdict, ok)

        jobs: list[Callable[[int], Run]] = [
            lambda r: duckdb_run(1, r), lambda r: duckdb_run(many, r)]
        if not args.no_pg:
            jobs += [lambda r: pg_run(1, r), lambda r: pg_run(many, r),
                     lambda r: pg_run(many, r, threads=True)]
        console.print(f"{n:,} appends per configuration, {args.repeat} interleaved rounds; a "
                      f"head signed every {setting('audit_sign_every')} lines; load average "
                      "before: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
        for round_ in range(args.repeat):
            done = []
            for job in jobs:
                run = job(round_)
                runs.setdefault((run.backend, run.writers), []).append(run)
                done.append(f"{run.backend} {run.writers} {run.rate:,.0f}/s")
            console.print(f"  round {round_ + 1}: " + "; ".join(done))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    best = f"best of {args.repeat}" if args.repeat > 1 else "one run"
    table = Table(title=f"access-log appends (audit.record, action consultation), {best} — "
                        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
                        f"load average {load}",
                  title_justify="left")
    for col in ("backend", "writers", "appends", "seconds", "appends/s", "× 1 writer",
                "all runs /s", "p50 ms", "p99 ms", "audit.verify, every run"):
        table.add_column(col, justify="left" if col in (
            "backend", "writers", "all runs /s", "audit.verify, every run") else "right")
    single: dict[str, float] = {}
    ratios: list[str] = []
    for (backend, writers), group in runs.items():
        top = max(group, key=lambda r: r.rate)
        if writers.startswith("1 "):
            single[backend] = top.rate
        else:
            ratios.append(f"{backend}: {writers} / 1 writer = [bold]"
                          f"{top.rate / single[backend]:.2f}[/]")
        bad = [r for r in group if not r.intact]
        verdict = top.verdict if not bad else f"[bold red]{bad[0].verdict}[/]"
        table.add_row(backend, writers, f"{top.lines:,}", f"{top.seconds:.2f}",
                      f"{top.rate:,.0f}", f"{top.rate / single[backend]:.2f}",
                      " ".join(f"{r.rate:,.0f}" for r in group),
                      f"{np.percentile(top.latencies, 50) * 1e3:.2f}",
                      f"{np.percentile(top.latencies, 99) * 1e3:.2f}", verdict)
    console.print(table)
    for line in ratios:
        console.print(line)
    if not all(r.intact for group in runs.values() for r in group):
        console.print("[bold red]the access log is not intact after a run: see above[/]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
