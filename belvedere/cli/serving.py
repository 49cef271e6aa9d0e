"""Long-running processes — serve the API and the dashboard, live ingestion alone, the demo —
and the basemap builder.

``serve`` and ``live`` own the store while they run (:func:`_running`): they open it, start the
live service and the retention job, sign a tree head of the access log, and take the commands the
CLI hands over (:mod:`belvedere.cli.handoff`) so that every other command keeps working.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from belvedere.cli.app import app
from belvedere.cli.context import (
    StoreOpt,
    cli_actor,
    console,
    deployment_of,
    here,
    opened,
    warn_deployment,
)
from belvedere.cli.feeds import ingest_with_progress, simulate
from belvedere.cli.handoff import HandoffServer
from belvedere.cli.picture import run_backtest, summary_table
from belvedere.errors import AuditLogBroken, ConfigError
from belvedere.live.service import DEFAULT_BROKER, LiveService
from belvedere.privacy import audit
from belvedere.privacy.deployment import DEMO_USERS, check_demo_allowed, purge_interval
from belvedere.privacy.operations import record_collection
from belvedere.privacy.users import add_user
from belvedere.settings import SETTINGS, setting
from belvedere.store.base import Store

if TYPE_CHECKING:
    from belvedere.privacy.retention import RetentionJob


@contextmanager
def _running(store: str | None, mqtt: str, gtfs_rt: str) -> Iterator[tuple[Store, LiveService]]:
    """The store held by this process, with its live service, its retention job and the
    hand-off of CLI commands, for as long as the block runs; everything stopped after (the
    access log signed on the way in and out)."""
    with opened(store, create=True) as db:
        warn_deployment(db)
        live = LiveService.from_settings(db)
        for problem in live.problems():
            console.print(f"[yellow]warning:[/yellow] {problem}")
        for note in live.start_all(mqtt=mqtt or None, gtfs_rt=gtfs_rt or None):
            console.print(note.replace("warning:", "[yellow]warning:[/yellow]", 1))
        job = _start_retention(db)
        handoff = HandoffServer(db).start() if db.deployment.kind == "duckdb" else None
        if handoff is not None:
            console.print("CLI: other `belvedere` commands on this store are handed to this "
                          "process while it runs (docs/deployment.md)")
        _sign_log(db)
        try:
            yield db, live
        finally:
            if handoff is not None:
                handoff.stop()
            if job is not None:
                job.stop()
            live.stop()
            _sign_log(db)


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option(help=SETTINGS["host"].help)] = setting("host"),
    port: Annotated[int, typer.Option(help=SETTINGS["port"].help)] = int(setting("port")),
    mqtt: Annotated[str, typer.Option(help=SETTINGS["mqtt_url"].help)] = setting("mqtt_url"),
    gtfs_rt: Annotated[str, typer.Option("--gtfs-rt", help=SETTINGS["gtfs_rt_url"].help)
                       ] = setting("gtfs_rt_url"),
    workers: Annotated[int, typer.Option(min=1, max=64, help=SETTINGS["workers"].help)
                       ] = int(setting("workers")),
) -> None:
    """Serve the API and the dashboard; with --mqtt, the MQTT bridge too (docs/live.md).
    While it runs, other `belvedere` commands on the same store are handed to it (embedded
    store), or simply run beside it (PostgreSQL; several web workers with --workers)."""
    import uvicorn

    from belvedere.api.main import create_app

    if workers > 1 and deployment_of(store).kind != "postgresql":
        raise ConfigError(f"--workers {workers} needs the PostgreSQL store: the embedded DuckDB "
                          "file is one process's (docs/deployment.md)")
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler
    # it found: this one, so that the store is released as on Ctrl+C (the live bridge commits
    # and acknowledges, the access log is signed) and the exit status says a clean stop (0).
    signal.signal(signal.SIGTERM, _stopped)
    with _running(store, mqtt, gtfs_rt) as (db, live):
        console.print(f"belvedere on [bold]http://{host}:{port}[/bold] (API docs: /api/docs)"
                      + (f", {workers} web workers" if workers > 1 else ""))
        # Open live streams would hold the shutdown: they are cut after 3 s.
        if workers > 1:
            # Each worker builds its own app over the same store (belvedere.cli.workers),
            # told which by the environment it inherits.
            os.environ[SETTINGS["store"].env] = db.deployment.url
            # A worker busy with a long request still answers the supervisor's health check,
            # but late on a loaded machine: 30 s before it is taken as hung and replaced.
            uvicorn.run("belvedere.cli.workers:app", factory=True, workers=workers, host=host,
                        port=port, log_level="warning", timeout_graceful_shutdown=3,
                        timeout_worker_healthcheck=30)
            return
        uvicorn.run(create_app(db, reports_dir=db.deployment.reports_dir, live_service=live),
                    host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM (systemd's stop, ``kill``): leave by the normal way out, status 0."""
    raise SystemExit(0)


def _sign_log(db: Store) -> None:
    """Sign a tree head of the access log when serving starts and stops (docs/audit.md); a log
    found altered is reported, and serving goes on."""
    try:
        head = audit.sign_head(db)
        console.print(f"access log: signed tree head of {head.size:,} lines")
    except AuditLogBroken as exc:
        console.print(f"[red]access log altered[/red]: {exc}")


def _start_retention(db: Store) -> RetentionJob | None:
    """Start the retention purge of ``serve`` when the settings ask for one."""
    from belvedere.privacy.retention import RetentionJob

    interval = purge_interval()
    if interval is None:
        console.print("retention: no scheduled purge (dev; docs/retention.md)")
        return None
    job = RetentionJob(db, interval, staging=db.deployment.live_dir)
    job.start()
    console.print(f"retention: purge every {interval.total_seconds() / 3600:g} h "
                  "(receipts in the access log)")
    return job


@app.command("live")
def live_command(
    store: StoreOpt = None,
    mqtt: Annotated[str, typer.Option(help=SETTINGS["mqtt_url"].help)] = (
        setting("mqtt_url") or DEFAULT_BROKER),
    gtfs_rt: Annotated[str, typer.Option("--gtfs-rt", help=SETTINGS["gtfs_rt_url"].help)
                       ] = setting("gtfs_rt_url"),
) -> None:
    """Live ingestion alone (MQTT bridge, GTFS-realtime poller), without the web app, until
    Ctrl+C or SIGTERM; what was received is committed and acknowledged before it stops.
    While it runs, other `belvedere` commands on the same store are handed to it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _running(store, mqtt, gtfs_rt) as (_db, live):
        try:
            while not stop.wait(10):
                s = live.bridge.stats if live.bridge else None
                if s:
                    console.print(f"received {s.received:,}, stored {s.stored:,}, duplicates "
                                  f"{s.duplicates:,}, quarantined {s.quarantined:,}")
        except KeyboardInterrupt:
            pass


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help=SETTINGS["demo_dir"].help)] = Path(
        setting("demo_dir")),
    store: StoreOpt = None,
    days: Annotated[int, typer.Option(min=1, help="Days to simulate.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    serve_: Annotated[bool, typer.Option("--serve/--no-serve",
                                         help="Serve the dashboard afterwards.")] = True,
    port: Annotated[int, typer.Option(help=SETTINGS["port"].help)] = int(setting("port")),
    backtest_: Annotated[bool, typer.Option("--backtest/--no-backtest",
                                            help="Build the forecast backtest report.")] = True,
) -> None:
    """Simulate 90 days of Marseille, ingest them, create demo users, build the backtest
    report, serve the dashboard."""
    check_demo_allowed()
    out = here(out)
    simulate(out=out, days=days, seed=seed, start=None)
    with opened(store, create=True) as db:
        record_collection(db, cli_actor("operator"), "situation_monitoring",
                          ingest_with_progress(db, out, None),
                          what={"resource": "ingest", "target": str(out)})
        for name, role, password in DEMO_USERS:
            if db.get_user(name) is None:
                add_user(db, name, password, role=role, by=cli_actor("admin"))
        if backtest_:
            # The analysts' report of the dashboard: how well each forecaster did on the last
            # weeks of the synthetic city, each fitted only on the weeks before.
            result, html = run_backtest(
                db, names=["naive", "recent", "kde", "prospective", "etas", "boosted"],
                first=None, windows=3, window=timedelta(days=7), categories=(),
                resolution=9, out=db.deployment.reports_dir / "backtest")
            console.print(summary_table(result.summary(), list(result.models),
                                        title="Forecast backtest (last 3 weeks)"))
            console.print(f"backtest report → {html}")
    logins = Table(title="Demo logins (demo only)")
    for col in ("user", "role", "password"):
        logins.add_column(col)
    for name, role, password in DEMO_USERS:
        logins.add_row(name, role, password)
    console.print(logins)
    if serve_:
        serve(store=store, host=setting("host"), port=port, mqtt=setting("mqtt_url"),
              gtfs_rt=setting("gtfs_rt_url"), workers=int(setting("workers")))


@app.command("basemap")
def basemap_command(
    osm: Annotated[Path, typer.Option(help="OpenStreetMap extract of the city (.osm.pbf or "
                                           ".osm) that you provide.")],
    out: Annotated[Path, typer.Option(help="PMTiles file to write (then BELVEDERE_BASEMAP).")],
    min_zoom: Annotated[int, typer.Option(min=0, max=16, help="Lowest zoom.")] = 10,
    max_zoom: Annotated[int, typer.Option(min=0, max=16, help="Highest zoom.")] = 15,
) -> None:
    """Build the dashboard's optional basemap: water, green areas, buildings, roads and
    railways, no names (see docs/dashboard.md)."""
    from belvedere.grid.basemap import build_basemap

    osm, out = here(osm), here(out)
    with console.status(f"reading {osm}…"):
        counts = build_basemap(osm, out, min_zoom=min_zoom, max_zoom=max_zoom)
    kept = ", ".join(f"{n:,} {cls}" for cls, n in counts.items() if n)
    console.print(f"{kept} → {out} ({out.stat().st_size / 1e6:.1f} MB); serve it with "
                  f"BELVEDERE_BASEMAP={out} belvedere serve")

