"""The command line: ``belvedere demo · simulate · ingest · situation · serve · users · tokens
· audit · detect · alerts · purge · dossier``.

Human-facing figures (``situation``, ``alerts``) go through the release gate like the API's.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import h3
import polars as pl
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from belvedere.errors import AuditLogBroken, BelvedereError, ConfigError
from belvedere.live.service import DEFAULT_BROKER, LiveService
from belvedere.privacy import audit
from belvedere.privacy.access_log import consistency, inclusion, published_head, read_lines
from belvedere.privacy.deployment import (
    DEMO_USERS,
    check_demo_allowed,
    check_deployment,
    check_password,
    purge_interval,
)
from belvedere.privacy.ledger import Spending
from belvedere.privacy.operations import record_collection, record_operation
from belvedere.privacy.quarantine import quarantined_row, review_quarantine
from belvedere.privacy.release import Actor, record_release, release
from belvedere.privacy.tokens import (
    DEFAULT_TOKEN_DAYS,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from belvedere.privacy.users import add_user, list_users
from belvedere.settings import SETTINGS, setting
from belvedere.sources.base import registry
from belvedere.sources.ingest import (
    IngestReport,
    connector_for,
    ingest_file,
    ingest_folder,
    pseudonymiser_for,
    retry_quarantine,
)
from belvedere.sources.mapping import load_mapping, packaged_mappings, read_mapping_data
from belvedere.store.base import AuditRow, Bin, LedgerRow, Level, SituationQuery
from belvedere.store.duckdb_store import DuckDBStore

if TYPE_CHECKING:
    from belvedere.models.backtest import BacktestResult
    from belvedere.privacy.retention import RetentionJob

app = typer.Typer(help="belvedere — a privacy-by-design public-safety observatory.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
users_app = typer.Typer(help="Manage dashboard/API users.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and check the access log.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
quarantine_app = typer.Typer(help="Review and retry quarantined input rows.",
                             no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
tokens_app = typer.Typer(help="Manage machines' API tokens (MQTT bridge, push clients).",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
privacy_app = typer.Typer(help="Purposes, privacy budgets and the privacy-loss ledger.",
                          no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
console = Console()

StoreOpt = Annotated[Path, typer.Option("--store", help=SETTINGS["store"].help,
                                        envvar=SETTINGS["store"].env)]
DEFAULT_STORE = Path(setting("store"))

def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _purpose_for(role: str, declared: str | None, default: str) -> str:
    """The purpose a command serves: the one declared, else ``default`` when the register lets
    ``role`` hold it, else the role's own (the DPO: ``dpo_review``)."""
    from belvedere.privacy.purposes import registry as purpose_registry

    return purpose_registry().resolve_purpose(role, declared, default)


def _fail(exc: BelvedereError) -> NoReturn:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


@app.callback()
def _justification(
    ctx: typer.Context,
    why: Annotated[str | None, typer.Option(
        "--why", help="Why you run this command: recorded (redacted) with its access-log "
                      "lines, e.g. `belvedere --why \"enquête 2024-117\" situation`.")] = None,
) -> None:
    token = audit.justify(why)
    ctx.call_on_close(lambda: audit.unjustify(token))


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write the feeds into.")] = Path("demo-data"),
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days to simulate.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed (same seed → same files).")] = 42,
    start: Annotated[str | None, typer.Option(help="First local day, YYYY-MM-DD.")] = None,
) -> None:
    """Write a synthetic Marseille: every feed in its native format, plus truth/."""
    from belvedere.simulate import simulate_city  # imported late: numpy-heavy, CLI starts fast

    first = date.fromisoformat(start) if start else None
    with _progress() as bar:
        task = bar.add_task("simulating", total=None)

        def tick(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"simulating {stage}", completed=done, total=total)

        summary = simulate_city(out, days=days, seed=seed, start=first, progress=tick)
    table = Table(title=f"Synthetic Marseille → {out}")
    table.add_column("feed")
    table.add_column("rows", justify="right")
    for feed, rows in summary.rows.items():
        table.add_row(feed, f"{rows:,}")
    console.print(table)


def _ingest_table(report: IngestReport) -> Table:
    table = Table(title="Ingest")
    for col in ("source", "files", "read", "stored", "duplicates skipped", "quarantined",
                "filtered"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for source, t in report.totals().items():
        table.add_row(source, *(f"{t[k]:,}" for k in ("files", "read", "stored", "duplicates",
                                                      "quarantined", "filtered")))
    return table


def _ingest_details(report: IngestReport) -> None:
    """Why rows were quarantined, what minimisation did, and what was noticed."""
    rules: dict[tuple[str, str], int] = {}
    minimised: dict[tuple[str, str], int] = {}
    for b in report.batches:
        for rule, n in b.quarantine_rules.items():
            rules[(b.source, rule)] = rules.get((b.source, rule), 0) + n
        for what, n in b.minimised.items():
            minimised[(b.source, what)] = minimised.get((b.source, what), 0) + n
        for note in b.notes:
            console.print(f"[cyan]note[/cyan] {b.source} {Path(b.file or '').name}: {note}")
    if rules:
        console.print(_counts_table("Quarantine reasons (belvedere quarantine list)",
                                    ("source", "rule", "rows"), rules))
    if minimised:
        console.print(_counts_table("Minimisation at the door", ("source", "what", "values"),
                                    minimised))


def _counts_table(title: str, columns: tuple[str, str, str],
                  counts: dict[tuple[str, str], int]) -> Table:
    """A table of counts keyed by (source, something), sorted."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col == columns[-1] else "left")
    for (source, key), n in sorted(counts.items()):
        table.add_row(source, key, f"{n:,}")
    return table


def _ingest(store: DuckDBStore, folder: Path, sources: list[str] | None) -> IngestReport:
    with _progress() as bar:
        task = bar.add_task("ingesting", total=None)

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"ingesting {label}", completed=done, total=total)

        report = ingest_folder(store, folder, sources=sources, progress=tick)
    _print_report(report)
    return report


def _print_report(report: IngestReport) -> None:
    console.print(_ingest_table(report))
    _ingest_details(report)
    if report.stored:
        console.print(f"{report.stored:,} new rows stored.")
    elif report.batches and all(b.rows_duplicate == b.rows_read for b in report.batches):
        console.print("[yellow]0 new rows stored[/yellow]: everything was already in the store.")
    else:
        console.print("[yellow]0 new rows stored.[/yellow]")
    for source, file, reason in report.refused:
        console.print(f"[red]refused[/red] {source} {file}: {reason}")


@app.command()
def ingest(
    target: Annotated[str, typer.Argument(
        help="A folder laid out as `simulate` writes it, or a source name followed by FILE.")],
    file: Annotated[Path | None, typer.Argument(help="One export of the source TARGET.")] = None,
    mapping: Annotated[str | None, typer.Option(
        help="Mapping (packaged name or .toml) describing FILE's format.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    source: Annotated[list[str] | None, typer.Option(help="Folder mode: only these feeds.")
                      ] = None,
) -> None:
    """Ingest a folder of feeds, or one FILE of source TARGET; re-running stores nothing twice."""
    try:
        db = DuckDBStore(store)
        _check_deployment(db)
        if file is None:
            report = _ingest(db, Path(target), source)
        else:
            connector = connector_for(target, mapping)
            report = IngestReport()
            with console.status(f"ingesting {file.name} as {target}"):
                ingest_file(db, connector, file, pseudonymiser_for(db), report)
            _print_report(report)
        record_collection(db, _cli_actor("operator"), "situation_monitoring", report,
                          what={"resource": "ingest", "target": target,
                                "file": file.name if file else None})
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    if report.refused:
        raise typer.Exit(1)


@app.command("sources")
def list_sources(
    mappings: Annotated[bool, typer.Option(help="Also list the packaged mappings.")] = True,
) -> None:
    """The registered connectors: folder, formats, what they keep; and the packaged mappings."""
    table = Table(title="Connectors")
    for col in ("source", "folder", "files", "becomes", "reads (all else dropped)",
                "label (fr / en)"):
        table.add_column(col, overflow="fold")
    for name, s in registry().items():
        table.add_row(name, f"{s.info.folder}/", ", ".join(s.info.patterns),
                      f"{s.info.kind} ({s.info.metric})", ", ".join(s.info.keeps),
                      f"{s.info.label_fr} / {s.info.label_en}")
    console.print(table)
    if mappings:
        table = Table(title="Packaged mappings (belvedere ingest NAME FILE --mapping MAPPING)")
        for col in ("mapping", "describes", "reads (everything else is dropped)"):
            table.add_column(col, overflow="fold")
        for name in packaged_mappings():
            data, _ = read_mapping_data(name)
            label = data.get("source", {}).get("label_en", "")
            if "schedule" in data:
                reads = f"schedule: {data['schedule'].get('format', '')}"
            else:
                reads = ", ".join(load_mapping(name).used_columns())
            table.add_row(name, label, reads)
        console.print(table)


@app.command()
def situation(
    store: StoreOpt = DEFAULT_STORE,
    source: Annotated[list[str] | None, typer.Option(help="Feeds (all when absent).")] = None,
    start: Annotated[str | None, typer.Option(help="Window start (ISO 8601, UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (ISO 8601, UTC).")] = None,
    level: Annotated[str, typer.Option(help="cell, zone or city.")] = "zone",
    bin: Annotated[str, typer.Option(help="hour, day or window.")] = "day",
    role: Annotated[str, typer.Option(help="Role whose policy applies.")] = "analyst",
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "analysis",
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 40,
) -> None:
    """Print the situation table, released under ROLE's policy (and audited)."""
    try:
        db = DuckDBStore(store)
        period = db.data_period()
        stop = datetime.fromisoformat(end) if end else (period[1] if period else datetime.now(UTC))
        begin = datetime.fromisoformat(start) if start else stop - timedelta(days=7)
        query = SituationQuery(start=_aware(begin), end=_aware(stop), sources=tuple(source or ()),
                               level=_level(level), bin=_bin(bin))
        actor = _cli_actor(role)
        rel = release(db, query, actor, purpose)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = Table(title=f"Situation — granted {rel.granted.level} × {rel.granted.bin}"
                        + (f", k = {rel.k}" if rel.k else ""))
    for col in ("bin", "place", "source", "metric", "category", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in rel.table.to_pylist()[:limit]:
        value = "< k" if r["suppressed"] else f"{r['value']:,.0f}"
        table.add_row(str(r["bin_start"]), r["place"], r["source"], r["metric"], r["category"],
                      value)
    console.print(table)
    console.print(f"{rel.table.num_rows:,} rows, {rel.suppressed:,} suppressed; "
                  f"audit line #{rel.audit_seq}.")


def _cli_actor(role: str) -> Actor:
    """The person at this terminal, acting with ``role``'s policy."""
    return Actor(f"cli:{getpass.getuser()}", role)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _level(value: str) -> Level:
    if value not in ("cell", "zone", "city"):
        raise typer.BadParameter("level is cell, zone or city")
    return value  # type: ignore[return-value]


def _bin(value: str) -> Bin:
    if value not in ("hour", "day", "window"):
        raise typer.BadParameter("bin is hour, day or window")
    return value  # type: ignore[return-value]


@app.command()
def serve(
    store: StoreOpt = DEFAULT_STORE,
    host: Annotated[str, typer.Option(help=SETTINGS["host"].help)] = setting("host"),
    port: Annotated[int, typer.Option(help=SETTINGS["port"].help)] = int(setting("port")),
    mqtt: Annotated[str, typer.Option(help=SETTINGS["mqtt_url"].help)] = setting("mqtt_url"),
    gtfs_rt: Annotated[str, typer.Option("--gtfs-rt", help=SETTINGS["gtfs_rt_url"].help)
                       ] = setting("gtfs_rt_url"),
) -> None:
    """Serve the API and the dashboard; with --mqtt, the MQTT bridge too (docs/live.md)."""
    import uvicorn

    from belvedere.api.main import create_app

    db, live = _start_live(store, mqtt, gtfs_rt)
    job = _start_retention(db)
    _sign_log(db)
    console.print(f"belvedere on [bold]http://{host}:{port}[/bold] (API docs: /api/docs)")
    try:
        # Open live streams would hold the shutdown: they are cut after 3 s.
        uvicorn.run(create_app(db, reports_dir=Path(setting("reports")), live_service=live),
                    host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    finally:
        if job is not None:
            job.stop()
        live.stop()
        _sign_log(db)


def _sign_log(db: DuckDBStore) -> None:
    """Sign a tree head of the access log when serving starts and stops (docs/audit.md); a log
    found altered is reported, and serving goes on."""
    try:
        head = audit.sign_head(db)
        console.print(f"access log: signed tree head of {head.size:,} lines")
    except AuditLogBroken as exc:
        console.print(f"[red]access log altered[/red]: {exc}")


def _check_deployment(db: DuckDBStore) -> None:
    """Refuse default secrets in prod (:mod:`belvedere.privacy.deployment`); in dev, say what
    prod would refuse."""
    for problem in check_deployment(db):
        console.print(f"[yellow]would be refused in prod:[/yellow] {problem}")


def _start_retention(db: DuckDBStore) -> RetentionJob | None:
    """Start the retention purge of ``serve`` when the settings ask for one."""
    from belvedere.live.service import staging_folder
    from belvedere.privacy.retention import RetentionJob

    try:
        interval = purge_interval()
    except BelvedereError as exc:
        _fail(exc)
    if interval is None:
        console.print("retention: no scheduled purge (dev; docs/retention.md)")
        return None
    job = RetentionJob(db, interval, staging=staging_folder(db))
    job.start()
    console.print(f"retention: purge every {interval.total_seconds() / 3600:g} h "
                  "(receipts in the access log)")
    return job


def _start_live(store: Path, mqtt: str, gtfs_rt: str) -> tuple[DuckDBStore, LiveService]:
    """Open the store and start its live service (bridge and poller when asked)."""
    try:
        db = DuckDBStore(store)
        _check_deployment(db)
        live = LiveService.from_settings(db)
        for problem in live.problems():
            console.print(f"[yellow]warning:[/yellow] {problem}")
        live.start(mqtt=mqtt or None, gtfs_rt=gtfs_rt or None)
    except BelvedereError as exc:
        _fail(exc)
    try:
        live.watch_alerts()
        console.print("alerts: the anomaly detector watches what arrives (docs/models.md)")
    except ConfigError as exc:  # no recent history (a demo of 2024): serve without alerts
        console.print(f"[yellow]warning:[/yellow] no live alerts: {exc}")
    if mqtt:
        console.print(f"MQTT bridge: {mqtt}, topics {setting('mqtt_prefix')}/…, client id "
                      f"{setting('mqtt_client_id')}")
    if gtfs_rt:
        console.print(f"GTFS-realtime: {gtfs_rt} every {setting('gtfs_rt_interval_s')} s")
    return db, live


@app.command("live")
def live_command(
    store: StoreOpt = DEFAULT_STORE,
    mqtt: Annotated[str, typer.Option(help=SETTINGS["mqtt_url"].help)] = (
        setting("mqtt_url") or DEFAULT_BROKER),
    gtfs_rt: Annotated[str, typer.Option("--gtfs-rt", help=SETTINGS["gtfs_rt_url"].help)
                       ] = setting("gtfs_rt_url"),
) -> None:
    """Live ingestion alone (MQTT bridge, GTFS-realtime poller), without the web app, until
    Ctrl+C or SIGTERM; what was received is committed and acknowledged before it stops."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    db, live = _start_live(store, mqtt, gtfs_rt)
    try:
        while not stop.wait(10):
            s = live.bridge.stats if live.bridge else None
            if s:
                console.print(f"received {s.received:,}, stored {s.stored:,}, duplicates "
                              f"{s.duplicates:,}, quarantined {s.quarantined:,}")
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        db.close()


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help=SETTINGS["demo_dir"].help)] = Path(
        setting("demo_dir")),
    store: StoreOpt = DEFAULT_STORE,
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
    try:
        check_demo_allowed()
    except BelvedereError as exc:
        _fail(exc)
    simulate(out=out, days=days, seed=seed, start=None)
    try:
        db = DuckDBStore(store)
        record_collection(db, _cli_actor("operator"), "situation_monitoring",
                          _ingest(db, out, None), what={"resource": "ingest", "target": str(out)})
        for name, role, password in DEMO_USERS:
            if db.get_user(name) is None:
                add_user(db, name, password, role=role, by=_cli_actor("admin"))
        if backtest_:
            # The analysts' report of the dashboard: how well each forecaster did on the last
            # weeks of the synthetic city, each fitted only on the weeks before.
            result, html = run_backtest(
                db, names=["naive", "recent", "kde", "prospective", "etas", "boosted"],
                first=None, windows=3, window=timedelta(days=7), categories=(),
                resolution=9, out=Path(setting("reports")) / "backtest")
            console.print(summary_table(result.summary(), list(result.models),
                                        title="Forecast backtest (last 3 weeks)"))
            console.print(f"backtest report → {html}")
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    logins = Table(title="Demo logins (demo only)")
    for col in ("user", "role", "password"):
        logins.add_column(col)
    for name, role, password in DEMO_USERS:
        logins.add_row(name, role, password)
    console.print(logins)
    if serve_:
        serve(store=store, host=setting("host"), port=port)


SUMMARY_METRICS = ("pai@1%", "pai@5%", "pei*@1%", "loglik_per_cell", "fit_s", "predict_s")


def summary_table(summary: pl.DataFrame, names: list[str], *, title: str) -> Table:
    """A backtest summary: each metric's mean over windows with its 95 % bootstrap interval."""
    table = Table(title=title)
    table.add_column("model")
    for metric in SUMMARY_METRICS:
        table.add_column(metric, justify="right")
    for name in names:
        cells = []
        for metric in SUMMARY_METRICS:
            row = summary.filter((pl.col("model") == name) & (pl.col("metric") == metric))
            if not row.height:
                cells.append("–")
                continue
            mean, low, high = row.row(0)[2:5]
            cells.append(f"{mean:.2f} [{low:.2f}–{high:.2f}]")
        table.add_row(name, *cells)
    return table


def _duration(text: str) -> timedelta:
    """``7d``, ``24h`` or ``90m`` as a timedelta."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    try:
        return timedelta(**{units[text[-1]]: float(text[:-1])})
    except (KeyError, ValueError):
        raise typer.BadParameter(f"{text!r}: give a duration like 7d, 24h or 90m") from None


@app.command()
def forecast(
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 (UTC if no offset).")],
    out: Annotated[Path, typer.Option(help="CSV to write: cell,score.")],
    model: Annotated[str, typer.Option(help="naive, recent, kde, prospective, etas, boosted, "
                                            "ensemble.")] = "naive",
    horizon: Annotated[str, typer.Option(help="Window length: 7d, 24h…")] = "7d",
    category: Annotated[list[str] | None, typer.Option(help="Only these categories.")] = None,
    resolution: Annotated[int, typer.Option(min=5, max=9, help="H3 resolution.")] = 9,
    source: Annotated[list[str] | None, typer.Option(help="Incident sources.")] = None,
    area: Annotated[str, typer.Option(help="city (Marseille's cells) or observed.")] = "city",
    store: StoreOpt = DEFAULT_STORE,
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "analysis",
) -> None:
    """Expected incidents per H3 cell of the study area over a window: ``cell,score``.

    The model is fitted on everything strictly before START. Incidents discovered by patrols
    are left out of training (a feedback loop otherwise; see docs/models.md).
    """
    # Imported here: the models pull in scipy and LightGBM, which the other commands do not need.
    from belvedere.models.data import load_event_data
    from belvedere.models.registry import forecaster

    begin = _aware(datetime.fromisoformat(start))
    window = _duration(horizon)
    try:
        db = DuckDBStore(store)
        data = load_event_data(db, sources=tuple(source or ("police_log",)),
                               resolution=resolution, area=area,
                               area_until=begin, covariates=model in ("boosted", "ensemble"))
        patrol = int((data.events["origin"] == "discovered_by_patrol").sum())
        data = data.categories(*(category or ())).without_patrol_discoveries()
        fitted = forecaster(model, horizon_days=max(1, round(window / timedelta(days=1))))
        scores = fitted.fit(data, until=begin).predict(begin, window)
        frame = pl.DataFrame({"cell": [h3.int_to_str(int(c)) for c in data.area],
                              "score": scores})
        frame.write_csv(out)
        seq = record_release(
            db, _cli_actor("analyst"), purpose,
            what={"resource": "forecast", "model": model, "start": begin.isoformat(),
                  "horizon": horizon, "categories": list(category or ()),
                  "resolution": resolution}, rows=frame.height)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"{frame.height:,} cells, {scores.sum():,.1f} expected incidents "
                  f"({model}, {begin:%Y-%m-%d %H:%M} + {horizon}) → {out}; "
                  f"{patrol:,} patrol discoveries left out of training; audit line #{seq}.")


@app.command("backtest")
def backtest_command(
    out: Annotated[Path, typer.Option(help="Folder for report.html, report.json, figures.")],
    models: Annotated[str, typer.Option(help="Comma-separated models (naive always added).")
                      ] = "naive,recent,kde,prospective,etas,boosted,ensemble",
    first: Annotated[str | None, typer.Option(
        help="First window start (ISO); default: as many windows as fit after 8 weeks.")] = None,
    windows: Annotated[int, typer.Option(min=1, help="Number of windows.")] = 4,
    horizon: Annotated[str, typer.Option(help="Window length.")] = "7d",
    category: Annotated[list[str] | None, typer.Option(help="Only these categories.")] = None,
    resolution: Annotated[int, typer.Option(min=5, max=9)] = 9,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Rolling-origin backtest of the forecasters on the store's incidents; writes a report."""
    window = _duration(horizon)
    names = ["naive", *(m for m in models.split(",") if m and m != "naive")]
    try:
        db = DuckDBStore(store)
        result, html = run_backtest(db, names=names, first=first, windows=windows,
                                    window=window, categories=tuple(category or ()),
                                    resolution=resolution, out=out)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(summary_table(result.summary(), names,
                                title=f"Backtest: {windows} windows of {horizon}"))
    console.print(f"report → {html}")


def run_backtest(db: DuckDBStore, *, names: list[str], first: str | None, windows: int,
                 window: timedelta, categories: tuple[str, ...], resolution: int,
                 out: Path) -> tuple[BacktestResult, Path]:
    """Backtest ``names`` on the store's police log and write the report into ``out``."""
    from belvedere.models.backtest import backtest
    from belvedere.models.data import load_event_data
    from belvedere.models.registry import forecasters
    from belvedere.models.report import write_report

    period = db.data_period()
    if period is None:
        raise ConfigError("the store holds no data to backtest on")
    factories = forecasters(horizon_days=max(1, round(window / timedelta(days=1))))
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; models: "
                          f"{', '.join(factories)}")
    data = load_event_data(db, covariates=bool({"boosted", "ensemble"} & set(names)),
                           resolution=resolution).categories(*categories)
    data = data.without_patrol_discoveries()
    begin = _aware(datetime.fromisoformat(first)) if first else period[1] - windows * window
    starts = [begin + i * window for i in range(windows)]
    with _progress() as bar:
        task = bar.add_task("backtest", total=len(starts) * len(names))

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"backtest {label}", completed=done)

        result = backtest(data, {n: factories[n] for n in names}, starts=starts,
                          horizon=window, progress=tick)
    html = write_report(result, out, title="belvedere — forecast backtest",
                        area_cells=data.area, resolution=resolution)
    record_release(db, _cli_actor("analyst"), "analysis",
                   what={"resource": "backtest", "models": names, "windows": windows,
                         "first": starts[0].isoformat(), "report": str(html)},
                   rows=len(result.windows))
    return result, html


KINDS = {"match": "match_football", "demonstration": "manifestation",
         "manifestation": "manifestation", "concert": "concert", "festival": "festival"}


@app.command()
def anticipate(
    venue: Annotated[str, typer.Option(help="Venue id: velodrome, vieux_port, canebiere…")],
    start: Annotated[str, typer.Option(help="Start, ISO 8601 (UTC if no offset).")],
    attendance: Annotated[int, typer.Option(min=0, help="Expected attendance.")],
    kind: Annotated[str, typer.Option(help="match, demonstration, concert, festival.")
                    ] = "match",
    duration: Annotated[str, typer.Option(help="Event length: 2h, 110m…")] = "2h",
    out: Annotated[Path | None, typer.Option(help="F.csv or F.json (default: a summary).")
                   ] = None,
    resolution: Annotated[int, typer.Option(min=7, max=9, help="H3 resolution (8: the "
                                            "operator's crowd counts are at 8).")] = 8,
    store: StoreOpt = DEFAULT_STORE,
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "event_preparation",
) -> None:
    """Expected load around a planned event, hour by hour from 6 h before to 6 h after: per
    feed and cell, the baseline, the expected count and its 80 % and 95 % intervals."""
    from belvedere.grid.places import VENUES
    from belvedere.models.event_impact import (
        EventImpactModel,
        ImpactEvent,
        history_from_store,
        with_zones,
    )

    if venue not in VENUES:
        raise typer.BadParameter(f"unknown venue {venue!r}; venues: {', '.join(VENUES)}")
    if kind not in KINDS:
        raise typer.BadParameter(f"kind is one of {', '.join(KINDS)}")
    site = VENUES[venue]
    begin = _aware(datetime.fromisoformat(start))
    event = ImpactEvent(kind=KINDS[kind], venue=venue,
                        cell=h3.str_to_int(h3.latlng_to_cell(site.lat, site.lon, resolution)),
                        start=begin, end=begin + _duration(duration),
                        expected_attendance=float(attendance))
    try:
        db = DuckDBStore(store)
        with console.status("learning from past events…"):
            model = EventImpactModel(resolution=resolution).fit(
                history_from_store(db, resolution=resolution))
            rows = model.anticipate(event)
        record_release(db, _cli_actor("analyst"), purpose,
                       what={"resource": "anticipation", "kind": event.kind, "venue": venue,
                             "start": begin.isoformat(), "attendance": attendance},
                       rows=rows.height)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = with_zones(rows).select("zone", "cell", "hour", "offset_h", "feed", "baseline",
                                    "expected", "lo80", "hi80", "lo95", "hi95")
    if out is not None:
        if out.suffix == ".json":
            out.write_text(table.write_json())
        else:
            table.write_csv(out)
        console.print(f"{table.height:,} rows → {out}")
    summary = table.group_by("feed", "offset_h").agg(
        pl.col("baseline").sum(), pl.col("expected").sum()).sort("feed", "offset_h")
    view = Table(title=f"{event.kind} at {site.name}, {begin:%Y-%m-%d %H:%M} UTC, "
                       f"{attendance:,} expected — totals over the area")
    for col in ("feed", "hour", "baseline", "expected", "×"):
        view.add_column(col, justify="left" if col == "feed" else "right")
    for r in summary.filter(pl.col("offset_h").is_in([-3, -1, 0, 1, 2, 4])).iter_rows(
            named=True):
        ratio = r["expected"] / r["baseline"] if r["baseline"] else float("nan")
        view.add_row(r["feed"], f"{r['offset_h']:+d} h", f"{r['baseline']:,.1f}",
                     f"{r['expected']:,.1f}", f"{ratio:.1f}")
    console.print(view)


@app.command()
def brief(
    out: Annotated[Path, typer.Option(help="PDF to write.")],
    event: Annotated[str | None, typer.Option(
        help="Planned event id (as `belvedere conflicts` or the API lists them).")] = None,
    daily: Annotated[str | None, typer.Option(
        help="A day (YYYY-MM-DD, Paris time): the daily situation report instead.")] = None,
    lang: Annotated[str, typer.Option(help="fr or en.")] = "fr",
    role: Annotated[str, typer.Option(help="Role whose threshold applies.")] = "analyst",
    store: StoreOpt = DEFAULT_STORE,
    purpose: Annotated[str | None, typer.Option(
        help="Declared purpose; default: event_preparation for --event, situation_monitoring "
             "for --daily, or the role's own purpose when the register does not give it that "
             "one (the DPO: dpo_review).")] = None,
) -> None:
    """A PDF briefing, French or English: for an event's preparation meeting (--event), or the
    daily situation report (--daily)."""
    from belvedere.briefings.daily_brief import render_daily_brief
    from belvedere.briefings.event_brief import render_event_brief

    if (event is None) == (daily is None):
        raise typer.BadParameter("give either --event ID or --daily YYYY-MM-DD")
    try:
        db = DuckDBStore(store)
        with console.status("writing the briefing…"):
            if event is not None:
                path = render_event_brief(
                    db, event_id=event, lang=lang, out=out, actor=_cli_actor(role),
                    purpose=_purpose_for(role, purpose, "event_preparation"))
            else:
                path = render_daily_brief(db, day=date.fromisoformat(str(daily)), lang=lang,
                                          out=out, actor=_cli_actor(role),
                                          purpose=_purpose_for(role, purpose,
                                                               "situation_monitoring"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"briefing → {path}")


@app.command()
def conflicts(
    store: StoreOpt = DEFAULT_STORE,
    start: Annotated[str | None, typer.Option(help="From (ISO); default: the data's start.")
                     ] = None,
    end: Annotated[str | None, typer.Option(help="To (ISO); default: a year after start.")
                   ] = None,
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "event_preparation",
) -> None:
    """Planned events that compete: close in space and time, same hospital, same metro line."""
    from belvedere.models.conflicts import find_conflicts, planned_from_rows
    from belvedere.privacy.release import release_events

    try:
        db = DuckDBStore(store)
        period = db.data_period()
        begin = (_aware(datetime.fromisoformat(start)) if start
                 else period[0] if period else datetime.now(UTC))
        stop = _aware(datetime.fromisoformat(end)) if end else begin + timedelta(days=366)
        rows = release_events(db, begin, stop, _cli_actor("analyst"),
                              purpose).to_pylist()
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    titles = {str(r["source_id"]): r["title"] for r in rows}
    table = Table(title=f"Conflicts among {len(rows)} planned events")
    for col in ("when (UTC)", "first", "second", "why", "distance", "attendance"):
        table.add_column(col, overflow="fold")
    found = find_conflicts(planned_from_rows(rows))
    for c in found:
        why = ", ".join(c.kinds) + (f" ({c.hospital})" if c.hospital else "") + (
            f" ({'/'.join(c.lines)})" if c.lines else "")
        table.add_row(f"{c.overlap_start:%Y-%m-%d %H:%M}–{c.overlap_end:%H:%M}",
                      titles.get(c.first, c.first), titles.get(c.second, c.second), why,
                      f"{c.distance_m / 1000:.1f} km", f"{c.combined_attendance:,}")
    console.print(table)
    console.print(f"{len(found)} conflict(s).")


@app.command()
def detect(
    store: StoreOpt = DEFAULT_STORE,
    start: Annotated[str | None, typer.Option(help="Replay from (ISO, UTC); default: the "
                                              "last 7 days held.")] = None,
    end: Annotated[str | None, typer.Option(help="Replay to (ISO, UTC); default: the end of "
                                            "the data.")] = None,
) -> None:
    """Replay the anomaly detector hour by hour over a stored period, as if live, and record
    its alerts (open, for a person to acknowledge: nothing is dispatched)."""
    from belvedere.models.anomalies import replay

    try:
        db = DuckDBStore(store)
        period = db.data_period()
        if period is None:
            raise ConfigError(f"the store {store} holds no data")
        stop = _aware(datetime.fromisoformat(end)) if end else period[1]
        begin = _aware(datetime.fromisoformat(start)) if start else stop - timedelta(days=7)
        with _progress() as bar:
            task = bar.add_task("detecting", total=None)
            summary = replay(db, begin, stop, progress=lambda done, total: bar.update(
                task, completed=done, total=total))
        record_operation(db, _cli_actor("operator"), "situation_monitoring", "combination",
                         what={"resource": "alerts", "operation": "replay",
                               "start": begin.isoformat(), "end": stop.isoformat(),
                               "opened": summary.opened, "updated": summary.updated},
                         rows=summary.opened + summary.updated)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"{summary.passes:,} hourly passes ({summary.fits} fits), "
                  f"{summary.candidates:,} candidates: {summary.opened:,} alerts opened, "
                  f"{summary.updated:,} updates of open alerts. Review them with "
                  "`belvedere alerts`.")


@app.command()
def alerts(
    store: StoreOpt = DEFAULT_STORE,
    status: Annotated[str | None, typer.Option(
        help="open, acknowledged, closed or dismissed (all when absent).")] = None,
    role: Annotated[str, typer.Option(help="Role whose policy applies.")] = "operator",
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "situation_monitoring",
    limit: Annotated[int, typer.Option(help="Alerts to print.")] = 40,
) -> None:
    """List the detector's alerts, released under ROLE's policy (and audited)."""
    from belvedere.privacy.alerts import release_alerts

    try:
        db = DuckDBStore(store)
        released = release_alerts(db, _cli_actor(role), purpose, status=status)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = Table(title=f"Alerts — granted {released.level}"
                        + (f", k = {released.k}" if released.k else ""))
    for col in ("id", "opened (UTC)", "status", "feed", "place", "window (UTC)", "observed",
                "expected", "p", "method"):
        table.add_column(col, justify="right" if col in ("observed", "expected", "p") else
                         "left", overflow="fold")
    for r in released.rows[:limit]:
        feed = r["feed"] + (f" ({r['category']})" if r["category"] else "")
        figures = (("< k", "") if r["suppressed"] else
                   (f"{r['observed']:,.4g}", f"{r['expected']:,.4g}"))
        table.add_row(str(r["alert_id"]), f"{r['opened_at']:%Y-%m-%d %H:%M}", r["status"],
                      feed, r["place"],
                      f"{r['window_start']:%m-%d %H:%M}–{r['window_end']:%H:%M}", *figures,
                      f"{r['p_value']:.1e}", r["method"])
    console.print(table)
    console.print(f"{len(released.rows):,} alerts; audit line #{released.audit_seq}.")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="operator, analyst, public or dpo.")],
    store: StoreOpt = DEFAULT_STORE,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a user (the password is asked, or read from stdin)."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else typer.prompt("password", hide_input=True, confirmation_prompt=True))
    try:
        check_password(password)
        db = DuckDBStore(store)
        add_user(db, username, password, role=role, by=_cli_actor("admin"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"user [bold]{username}[/bold] ({role}) created.")


@users_app.command("list")
def users_list(store: StoreOpt = DEFAULT_STORE) -> None:
    """List users and roles (recorded in the access log)."""
    try:
        db = DuckDBStore(store)
        rows = list_users(db, _cli_actor("admin"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = Table(title="Users")
    for col in ("user", "role", "created"):
        table.add_column(col)
    for u in rows:
        table.add_row(u.username, u.role, u.created_at.isoformat(timespec="seconds"))
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The machine's name (letters, digits, -_.).")],
    role: Annotated[str, typer.Option(help="Role of the token.")] = "machine",
    days: Annotated[int, typer.Option(help="Days until it expires.")] = DEFAULT_TOKEN_DAYS,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Create an API token and print it once (only its hash is stored); audited."""
    try:
        db = DuckDBStore(store)
        token, row = create_api_token(db, name, role=role, days=days, by=_cli_actor("admin"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"token [bold]{name}[/bold] ({row.role}), expires "
                  f"{row.expires_at:%Y-%m-%d}. Copy it now, it is not shown again:")
    # Printed bare so that scripts can capture it (`belvedere tokens create … | tail -1`).
    print(token)


@tokens_app.command("list")
def tokens_list(store: StoreOpt = DEFAULT_STORE) -> None:
    """List API tokens: name, role, dates, state (never the tokens); audited."""
    try:
        db = DuckDBStore(store)
        rows = list_api_tokens(db, by=_cli_actor("admin"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    now = datetime.now(UTC)
    table = Table(title="API tokens")
    for col in ("name", "role", "created", "expires", "state"):
        table.add_column(col)
    for t in rows:
        state = ("revoked " + t.revoked_at.isoformat(timespec="seconds") if t.revoked_at
                 else "expired" if t.expires_at <= now else "live")
        table.add_row(t.name, t.role, t.created_at.isoformat(timespec="seconds"),
                      t.expires_at.isoformat(timespec="seconds"), state)
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Revoke an API token at once; audited."""
    try:
        db = DuckDBStore(store)
        revoke_api_token(db, name, by=_cli_actor("admin"))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"token [bold]{name}[/bold] revoked.")


@app.command("purge")
def purge_command(
    store: StoreOpt = DEFAULT_STORE,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what is due; erase nothing.")
                       ] = False,
    now: Annotated[str | None, typer.Option(
        help="Count the retention back from this time (ISO 8601, UTC if no offset) instead of "
             "the clock; a later time is refused in prod unless --dry-run.")] = None,
) -> None:
    """Erase what retention makes due (belvedere/privacy/retention.toml), one transaction per
    dataset, coarsening incidents into hourly aggregates first; each erasure's receipt goes
    to the access log (docs/retention.md)."""
    from belvedere.live.service import staging_folder
    from belvedere.privacy.deployment import environment
    from belvedere.privacy.retention import purge

    clock = datetime.now(UTC)
    try:
        at = _aware(datetime.fromisoformat(now)) if now else clock
    except ValueError:
        raise typer.BadParameter(f"--now {now!r}: give an ISO 8601 time") from None
    try:
        if at > clock and not dry_run and environment() == "prod":
            raise ConfigError("--now is later than the clock: in prod that would erase data "
                              "before its time (use --dry-run to look ahead)")
        db = DuckDBStore(store)
        outcomes = purge(db, now=at, actor=_cli_actor("admin"), dry_run=dry_run,
                         staging=staging_folder(db))
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = Table(title=f"Retention at {at:%Y-%m-%d %H:%M} UTC"
                        + (" — dry run, nothing erased" if dry_run else ""))
    for col in ("dataset", "keep", "before (UTC)", "rows", "aggregated", "digest", "status"):
        table.add_column(col, justify="right" if col in ("keep", "rows", "aggregated")
                         else "left", overflow="fold")
    for o in outcomes:
        r = o.receipt
        status = ("nothing due" if o.status == "erased" and not r.count else
                  o.status + (f", audit #{o.audit_seq}" if o.audit_seq else ""))
        table.add_row(o.dataset.name, f"{o.dataset.keep.days} d", f"{r.before:%Y-%m-%d %H:%M}",
                      f"{r.count:,}",
                      f"{r.aggregated:,}" if o.dataset.aggregate and not dry_run else "–",
                      r.digest[:10] + "…" if r.count else "–", status)
    console.print(table)
    erased = sum(o.receipt.count for o in outcomes if o.status == "erased")
    console.print(f"{erased:,} rows erased." if not dry_run else "Nothing erased (dry run).")


@app.command("dossier")
def dossier_command(
    out: Annotated[Path, typer.Option(help="Folder to write the dossier into.")],
    store: StoreOpt = DEFAULT_STORE,
    sign: Annotated[bool, typer.Option(
        help="Sign a tree head over the access log first, so that the page publishes it.")
                    ] = True,
) -> None:
    """The compliance dossier, generated from the code: record of processing (JSON, CSV), a
    DPIA for the CNIL's PIA tool, model cards, the register of algorithms, retention with the
    latest purge receipts, and the public transparency page (docs/dossier.md). Audited."""
    from belvedere.dossier.build import write_dossier

    try:
        db = DuckDBStore(store)
        report = write_dossier(db, out, actor=_cli_actor("dpo"), sign=sign)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    head = report.head
    console.print(f"dossier → {out}: {len(report.files) + 1} files (manifest.json lists them); "
                  f"recorded at access-log line #{report.audit_seq}"
                  + (f"; signed tree head over {head['tree_size']:,} lines, root "
                     f"{head['root_hash'][:16]}…" if head else "; no signed tree head."),
                  soft_wrap=True)


@audit_app.command("tail")
def audit_tail(
    store: StoreOpt = DEFAULT_STORE,
    n: Annotated[int, typer.Option("-n", help="Lines to show.")] = 20,
) -> None:
    """The newest lines of the access log (actors appear as pseudonyms: see `audit who`)."""
    try:
        db = DuckDBStore(store)
        rows = read_lines(db, _cli_actor("dpo"), limit=n)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    _print_lines(rows, "Access log (newest last)")


def _print_lines(rows: list[AuditRow], title: str) -> None:
    table = Table(title=title)
    for col in ("#", "time (UTC)", "actor", "role", "purpose", "action", "rows", "what"):
        table.add_column(col, overflow="fold")
    for r in rows:
        what = r.what + (f" — {r.justification}" if r.justification else "")
        table.add_row(str(r.seq), r.ts.isoformat(timespec="seconds"), r.actor, r.role,
                      r.purpose, r.action, str(r.rows_released), what)
    console.print(table)


@audit_app.command("who")
def audit_who(
    username: Annotated[str, typer.Argument(help="A user name (or `cli:NAME`, `token:NAME`).")],
    store: StoreOpt = DEFAULT_STORE,
    n: Annotated[int, typer.Option("-n", help="Lines to show.")] = 20,
) -> None:
    """The DPO's re-identification: USERNAME's pseudonym in the log, and their newest lines
    (needs the store's pseudonymisation key; the search is itself recorded)."""
    try:
        db = DuckDBStore(store)
        rows = read_lines(db, _cli_actor("dpo"), limit=n, of=username)
        mine = audit.pseudonym(db, username)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"{username} appears in the access log as [bold]{mine}[/bold].")
    _print_lines(rows, f"Lines of {mine} (newest last)")


@audit_app.command("verify")
def audit_verify(
    store: StoreOpt = DEFAULT_STORE,
    public_key: Annotated[str | None, typer.Option(
        help="Hex Ed25519 public key to check the heads with (default: the store's key).")
                          ] = None,
) -> None:
    """Recompute the access log's hash chain and Merkle tree and check every signed tree head;
    exits 1 naming the first bad line."""
    try:
        db = DuckDBStore(store)
        public = _public_key(public_key)
        result = audit.verify(db, public)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    if result.ok:
        console.print(f"[green]access log intact[/green]: {result.lines:,} lines chained, "
                      f"{result.heads:,} signed tree heads match; root {result.root}.")
        return
    where = f" at line #{result.first_bad}" if result.first_bad is not None else ""
    console.print(f"[red]access log broken{where}[/red]: {len(result.problems)} problem(s)")
    for problem in result.problems:
        console.print(f"  {problem}")
    raise typer.Exit(1)


def _public_key(text: str | None) -> Ed25519PublicKey | None:
    if text is None:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise ConfigError(f"--public-key must be 64 hex digits: {exc}") from exc


@audit_app.command("sign")
def audit_sign(store: StoreOpt = DEFAULT_STORE) -> None:
    """Sign a tree head over the whole access log now (refused if the log was altered)."""
    try:
        db = DuckDBStore(store)
        head = audit.sign_head(db)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    console.print(f"signed tree head: {head.size:,} lines, root {head.root}, key {head.key_id}.")


@audit_app.command("head")
def audit_head(
    store: StoreOpt = DEFAULT_STORE,
    json_: Annotated[bool, typer.Option("--json", help="Print the head as published JSON.")
                     ] = False,
) -> None:
    """The newest signed tree head: publish it (with the public key) so that the log cannot
    be rewritten unnoticed."""
    try:
        db = DuckDBStore(store)
        head = published_head(db)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    if head is None:
        console.print("[yellow]no signed tree head yet[/yellow]: run `belvedere audit sign`.")
        raise typer.Exit(1)
    if json_:
        print(json.dumps(head, indent=2, sort_keys=True))
        return
    console.print(f"{head['tree_size']:,} lines, root {head['root_hash']}, signed "
                  f"{head['timestamp']} by key {head['key_id']} ({head['public_key']}).")


@audit_app.command("key")
def audit_key(
    store: StoreOpt = DEFAULT_STORE,
    pem: Annotated[bool, typer.Option("--pem", help="PEM instead of hex.")] = False,
) -> None:
    """The public key that checks the signed tree heads (creating the key pair if needed)."""
    try:
        db = DuckDBStore(store)
        key = audit.signing_key(db)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    assert key is not None  # created when missing
    public = key.public_key()
    print(audit.public_key_pem(public) if pem else audit.public_key_hex(public), end="" if pem
          else "\n")


@audit_app.command("proof")
def audit_proof(
    seq: Annotated[int | None, typer.Option(help="A line: its inclusion proof.")] = None,
    first: Annotated[int | None, typer.Option(
        "--from", help="A tree size: the consistency proof from it.")] = None,
    size: Annotated[int | None, typer.Option(
        "--size", help="The tree's size (default: the newest signed head, else the log).")
                    ] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """A proof as JSON: a line's inclusion in a (signed) tree head (--seq, recorded: it shows
    the line), or that an older head is a prefix of a newer one (--from)."""
    if (seq is None) == (first is None):
        raise typer.BadParameter("give either --seq LINE or --from SIZE")
    try:
        db = DuckDBStore(store)
        if seq is not None:
            out = inclusion(db, _cli_actor("dpo"), seq, size)
        else:
            assert first is not None
            out = consistency(db, first, size)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    print(json.dumps(out, indent=2, sort_keys=True))


@audit_app.command("fairness")
def audit_fairness(
    store: StoreOpt = DEFAULT_STORE,
    model: Annotated[str, typer.Option(help="naive, recent, kde, prospective, etas, boosted, "
                                            "ensemble.")] = "naive",
    weeks: Annotated[int, typer.Option(min=1, help="Weekly windows audited (the last ones).")
                     ] = 8,
    share: Annotated[float, typer.Option(min=0.001, max=1.0, help="Share of the cells that "
                                         "gets attention (the forecast's top cells).")] = 0.05,
    source: Annotated[str, typer.Option(help="Incident source forecast.")] = "police_log",
    area: Annotated[str, typer.Option(help="city (Marseille's cells) or observed (another "
                                           "city: the cells with incidents).")] = "city",
    zones: Annotated[str | None, typer.Option(help="arrondissements or h3:R (default: "
                                              "arrondissements for the city, else h3:6).")
                     ] = None,
    resolution: Annotated[int, typer.Option(min=5, max=9, help="H3 resolution.")] = 9,
    feedback: Annotated[bool, typer.Option("--feedback/--no-feedback",
                                           help="Run the feedback-loop simulation.")] = True,
    out: Annotated[Path | None, typer.Option(help="report.json or report.html.")] = None,
) -> None:
    """Where forecasts direct attention, zone by zone, against benchmarks less dependent on
    policing (fire/EMS calls, people present, population, area): exposure ratios with 95 %
    intervals over weeks, concentration, and the feedback-loop simulation (docs/fairness.md)."""
    from belvedere.models.fairness import fairness_audit

    try:
        db = DuckDBStore(store)
        with _progress() as bar:
            task = bar.add_task("fairness audit", total=None)
            report = fairness_audit(
                db, model=model, weeks=weeks, share=share, source=source, area=area,
                zones=zones, resolution=resolution, feedback_seeds=range(5) if feedback else (),
                progress=lambda label, done, total: bar.update(
                    task, description=f"fairness audit {label}", completed=done, total=total))
        seq = record_release(db, _cli_actor("analyst"), "analysis", what={
            "resource": "report:fairness", "model": model, "source": source,
            "windows": len(report.windows), "share": share}, rows=report.top_cells)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    names = list(report.benchmarks)
    table = Table(title=f"Exposure ratio = share of attention / share of the benchmark "
                        f"({model}, top {share:.0%} of {report.area_cells:,} cells, "
                        f"{len(report.windows)} weeks); ▲ over 1.25, ▼ under 0.8")
    table.add_column("zone")
    table.add_column("attention", justify="right")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    first = report.benchmarks[names[0]].zones
    marks = {"over": " ▲", "under": " ▼", "": "  "}
    for i, zone in enumerate(first):
        cells = []
        for name in names:
            z = report.benchmarks[name].zones[i]
            band = "" if z.low != z.low else f" [{z.low:.2f}–{z.high:.2f}]"
            cells.append(f"{z.ratio:.2f}{band}{marks[z.flag]}")
        table.add_row(zone.label, f"{zone.attention_share:.1%}", *cells)
    console.print(table)
    for line in report.summary():
        console.print(line)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if out is not None:
        out.write_text(report.to_html() if out.suffix == ".html"
                       else json.dumps(report.to_dict(), indent=2))
        console.print(f"report → {out}")
    console.print(f"audit line #{seq}.")


@quarantine_app.command("list")
def quarantine_list(
    store: StoreOpt = DEFAULT_STORE,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    status: Annotated[str, typer.Option(help="open, retried or all.")] = "open",
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """Quarantined rows: where they came from and why."""
    try:
        db = DuckDBStore(store)
        rows, total = review_quarantine(db, _cli_actor("analyst"), source=source,
                                        status=None if status == "all" else status, rule=rule,
                                        limit=limit)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    table = Table(title=f"Quarantine ({total:,} {status} rows)")
    for col in ("id", "source", "file", "line", "rule", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(f"{r['batch_id']}:{r['line']}", r["source"], Path(r["file"] or "").name,
                      str(r["line"]), r["rule"], r["reason"])
    console.print(table)


@quarantine_app.command("show")
def quarantine_show(
    row_id: Annotated[str, typer.Argument(help="BATCH:LINE, as `quarantine list` shows.")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """One quarantined row in full (its kept fields only: dropped text never was stored)."""
    try:
        batch, line = (int(x) for x in row_id.split(":"))
    except ValueError:
        raise typer.BadParameter("give BATCH:LINE, e.g. 3:1207") from None
    try:
        db = DuckDBStore(store)
        row = quarantined_row(db, _cli_actor("analyst"), batch, line)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    if row is None:
        console.print(f"[red]no quarantined row {row_id}[/red]")
        raise typer.Exit(1)
    for key in ("source", "file", "line", "rule", "reason", "status"):
        console.print(f"[bold]{key}[/bold]: {row[key]}")
    console.print_json(row["raw"])


@quarantine_app.command("retry")
def quarantine_retry(
    store: StoreOpt = DEFAULT_STORE,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    mapping: Annotated[str | None, typer.Option(help="Read with this (fixed) mapping.")] = None,
) -> None:
    """Re-read the files that have open quarantined rows, after fixing the file or mapping."""
    try:
        db = DuckDBStore(store)
        report = retry_quarantine(db, source=source, mapping=mapping)
        actor = _cli_actor("analyst")
        record_collection(db, actor, "data_quality", report,
                          what={"resource": "quarantine_retry", "source": source})
        _, still = review_quarantine(db, actor, source=source, status="open", limit=0)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    _print_report(report)
    console.print(f"{report.stored:,} rows recovered; {still:,} rows still in quarantine.")


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

    try:
        with console.status(f"reading {osm}…"):
            counts = build_basemap(osm, out, min_zoom=min_zoom, max_zoom=max_zoom)
    except BelvedereError as exc:
        _fail(exc)
    kept = ", ".join(f"{n:,} {cls}" for cls, n in counts.items() if n)
    console.print(f"{kept} → {out} ({out.stat().st_size / 1e6:.1f} MB); serve it with "
                  f"BELVEDERE_BASEMAP={out} belvedere serve")


@privacy_app.command("purposes")
def privacy_purposes() -> None:
    """The register of purposes (regime, legal basis, datasets, outputs, retention, budget) and
    the role × purpose release policies: a description, no data (not audited)."""
    from belvedere.privacy.purposes import registry as purposes_registry

    reg = purposes_registry()
    table = Table(title=f"Purposes — controller: {reg.controller.name}")
    for col in ("purpose", "regime", "legal basis", "datasets", "outputs", "retention",
                "budget (ε, δ / period)"):
        table.add_column(col, overflow="fold")
    for p in reg.purposes.values():
        budget = (f"{p.budget.epsilon:g}, {p.budget.delta:g} / {p.budget.period}"
                  if p.budget else "—")
        table.add_row(p.id, p.regime, p.legal_basis, ", ".join(p.datasets) or "—",
                      ", ".join(p.outputs), p.retention, budget)
    console.print(table)
    rows = Table(title="Release policies (role × purpose)")
    for col in ("role", "purpose", "mechanism", "per release"):
        rows.add_column(col)
    for r in reg.policies.values():
        cost = (f"ε = {r.epsilon:g}" if r.epsilon else
                f"ρ = {r.rho:g}, δ = {r.delta:g}" if r.rho else "exact")
        rows.add_row(r.role, r.purpose, r.mechanism, cost)
    console.print(rows)


def _print_ledger(rows: list[LedgerRow], spent: list[Spending], *, title: str) -> None:
    """The ledger's lines and the spending per purpose and period against the caps."""
    lines = Table(title=title)
    for col in ("#", "time (UTC)", "actor", "role", "purpose", "datasets", "mechanism", "ε",
                "δ", "period", "query"):
        lines.add_column(col, overflow="fold")
    for r in rows:
        lines.add_row(str(r.seq), r.ts.isoformat(timespec="seconds"), r.actor, r.role,
                      r.purpose, r.dataset, r.mechanism, f"{r.epsilon:g}", f"{r.delta:g}",
                      r.period, r.query)
    console.print(lines)
    budget = Table(title="Spending against the caps")
    for col in ("purpose", "period", "releases", "ε spent", "ε cap", "δ spent", "δ cap"):
        budget.add_column(col, justify="left" if col in ("purpose", "period") else "right")
    for s in spent:
        budget.add_row(s.purpose, s.period, str(s.releases), f"{s.epsilon:g}",
                       f"{s.cap_epsilon:g}", f"{s.delta:g}", f"{s.cap_delta:g}")
    console.print(budget)


@privacy_app.command("ledger")
def privacy_ledger(
    store: StoreOpt = DEFAULT_STORE,
    of: Annotated[str | None, typer.Option(help="Only the releases of this purpose.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Lines to show.")] = 20,
) -> None:
    """The privacy-loss ledger: the newest noised releases and each purpose's spending per
    period against its cap (the DPO's view; audited as dpo_review)."""
    from belvedere.privacy.release import release_ledger

    try:
        db = DuckDBStore(store)
        rows, spent = release_ledger(db, _cli_actor("dpo"), "dpo_review", limit=n,
                                     ledger_purpose=of)
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    _print_ledger(rows, spent, title="Privacy-loss ledger (newest last)")


@privacy_app.command("demo")
def privacy_demo(
    store: StoreOpt = DEFAULT_STORE,
    source: Annotated[str, typer.Option(help="The feed to count.")] = "police_log",
    days: Annotated[int, typer.Option(min=1, max=400, help="Days of data, to the end held.")
                    ] = 7,
) -> None:
    """The same query — SOURCE's total per arrondissement over the last DAYS days — released
    to an operator (situation_monitoring: exact) and to the public (public_information:
    noised, suppressed under k), side by side, then the ledger lines it produced. Both
    releases are real: audited, and the public one spends budget."""
    from belvedere.privacy.release import release_ledger

    try:
        db = DuckDBStore(store)
        period = db.data_period()
        if period is None:
            raise ConfigError(f"the store {store} holds no data")
        query = SituationQuery(start=period[1] - timedelta(days=days), end=period[1],
                               sources=(source,), level="zone", bin="window",
                               by_category=False)
        exact = release(db, query, _cli_actor("operator"), "situation_monitoring")
        noised = release(db, query, _cli_actor("public"), "public_information")
        rows, spent = release_ledger(db, _cli_actor("dpo"), "dpo_review")
        db.close()
    except BelvedereError as exc:
        _fail(exc)
    values = {(r["place"], r["metric"]): r for r in exact.table.to_pylist()}
    table = Table(title=f"{source}, {query.start:%Y-%m-%d %H:%M} → {query.end:%Y-%m-%d %H:%M} "
                        "UTC, per arrondissement")
    for col in ("zone", "metric", "operator (exact)", f"public (noised, k = {noised.k})"):
        table.add_column(col, justify="left" if col in ("zone", "metric") else "right")
    for r in noised.table.to_pylist():
        mine = values.get((r["place"], r["metric"]))
        table.add_row(r["place"], r["metric"],
                      "0" if mine is None else f"{mine['value']:,.0f}",
                      "< k" if r["suppressed"] else f"{r['value']:,.0f}")
    console.print(table)
    console.print(f"operator: exact, audit line #{exact.audit_seq}. public: "
                  f"{noised.mechanism} ε = {noised.epsilon:g}, {noised.suppressed} of "
                  f"{noised.table.num_rows} zones suppressed, audit line #{noised.audit_seq}, "
                  f"ledger line #{noised.ledger_seq}.")
    mine_only = [r for r in rows if r.seq == noised.ledger_seq]
    _print_ledger(mine_only, [s for s in spent if s.purpose == "public_information"],
                  title="Ledger line of this demo")


if __name__ == "__main__":
    app()
