"""The picture and what comes of it: the situation, forecasts and their backtest, event
anticipation, briefings, conflicts, alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import h3
import polars as pl
import typer
from rich.table import Table

from belvedere.errors import ConfigError
from belvedere.privacy.operations import record_operation
from belvedere.privacy.release import record_release, release
from belvedere.store.base import SituationQuery, Store

if TYPE_CHECKING:
    from belvedere.models.backtest import BacktestResult

from belvedere.cli.app import app
from belvedere.cli.context import (
    StoreOpt,
    aware,
    cli_actor,
    console,
    here,
    opened,
    parse_bin,
    parse_duration,
    parse_level,
    progress_bar,
    purpose_for,
)


@app.command()
def situation(
    store: StoreOpt = None,
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
    with opened(store) as db:
        period = db.data_period()
        stop = datetime.fromisoformat(end) if end else (period[1] if period else datetime.now(UTC))
        begin = datetime.fromisoformat(start) if start else stop - timedelta(days=7)
        query = SituationQuery(start=aware(begin), end=aware(stop), sources=tuple(source or ()),
                               level=parse_level(level), bin=parse_bin(bin))
        actor = cli_actor(role)
        rel = release(db, query, actor, purpose)
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
    store: StoreOpt = None,
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "analysis",
) -> None:
    """Expected incidents per H3 cell of the study area over a window: ``cell,score``.

    The model is fitted on everything strictly before START. Incidents discovered by patrols
    are left out of training (a feedback loop otherwise; see docs/models.md).
    """
    # Imported here: the models pull in scipy and LightGBM, which the other commands do not need.
    from belvedere.models.data import load_event_data
    from belvedere.models.registry import forecaster

    begin = aware(datetime.fromisoformat(start))
    window = parse_duration(horizon)
    with opened(store) as db:
        data = load_event_data(db, sources=tuple(source or ("police_log",)),
                               resolution=resolution, area=area,
                               area_until=begin, covariates=model in ("boosted", "ensemble"))
        patrol = int((data.events["origin"] == "discovered_by_patrol").sum())
        data = data.categories(*(category or ())).without_patrol_discoveries()
        fitted = forecaster(model, horizon_days=max(1, round(window / timedelta(days=1))))
        scores = fitted.fit(data, until=begin).predict(begin, window)
        frame = pl.DataFrame({"cell": [h3.int_to_str(int(c)) for c in data.area],
                              "score": scores})
        frame.write_csv(here(out))
        seq = record_release(
            db, cli_actor("analyst"), purpose,
            what={"resource": "forecast", "model": model, "start": begin.isoformat(),
                  "horizon": horizon, "categories": list(category or ()),
                  "resolution": resolution}, rows=frame.height)
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
    store: StoreOpt = None,
) -> None:
    """Rolling-origin backtest of the forecasters on the store's incidents; writes a report."""
    window = parse_duration(horizon)
    names = ["naive", *(m for m in models.split(",") if m and m != "naive")]
    with opened(store) as db:
        result, html = run_backtest(db, names=names, first=first, windows=windows,
                                    window=window, categories=tuple(category or ()),
                                    resolution=resolution, out=here(out))
    console.print(summary_table(result.summary(), names,
                                title=f"Backtest: {windows} windows of {horizon}"))
    console.print(f"report → {html}")


def run_backtest(db: Store, *, names: list[str], first: str | None, windows: int,
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
    begin = aware(datetime.fromisoformat(first)) if first else period[1] - windows * window
    starts = [begin + i * window for i in range(windows)]
    with progress_bar() as bar:
        task = bar.add_task("backtest", total=len(starts) * len(names))

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"backtest {label}", completed=done)

        result = backtest(data, {n: factories[n] for n in names}, starts=starts,
                          horizon=window, progress=tick)
    html = write_report(result, out, title="belvedere — forecast backtest",
                        area_cells=data.area, resolution=resolution)
    record_release(db, cli_actor("analyst"), "analysis",
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
    store: StoreOpt = None,
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
    begin = aware(datetime.fromisoformat(start))
    event = ImpactEvent(kind=KINDS[kind], venue=venue,
                        cell=h3.str_to_int(h3.latlng_to_cell(site.lat, site.lon, resolution)),
                        start=begin, end=begin + parse_duration(duration),
                        expected_attendance=float(attendance))
    with opened(store) as db:
        with console.status("learning from past events…"):
            model = EventImpactModel(resolution=resolution).fit(
                history_from_store(db, resolution=resolution))
            rows = model.anticipate(event)
        record_release(db, cli_actor("analyst"), purpose,
                       what={"resource": "anticipation", "kind": event.kind, "venue": venue,
                             "start": begin.isoformat(), "attendance": attendance},
                       rows=rows.height)
    table = with_zones(rows).select("zone", "cell", "hour", "offset_h", "feed", "baseline",
                                    "expected", "lo80", "hi80", "lo95", "hi95")
    if out is not None:
        out = here(out)
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
    store: StoreOpt = None,
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
    out = here(out)
    with opened(store) as db, console.status("writing the briefing…"):
        if event is not None:
            path = render_event_brief(
                db, event_id=event, lang=lang, out=out, actor=cli_actor(role),
                purpose=purpose_for(role, purpose, "event_preparation"))
        else:
            path = render_daily_brief(db, day=date.fromisoformat(str(daily)), lang=lang,
                                      out=out, actor=cli_actor(role),
                                      purpose=purpose_for(role, purpose,
                                                           "situation_monitoring"))
    console.print(f"briefing → {path}")


@app.command()
def conflicts(
    store: StoreOpt = None,
    start: Annotated[str | None, typer.Option(help="From (ISO); default: the data's start.")
                     ] = None,
    end: Annotated[str | None, typer.Option(help="To (ISO); default: a year after start.")
                   ] = None,
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "event_preparation",
) -> None:
    """Planned events that compete: close in space and time, same hospital, same metro line."""
    from belvedere.models.conflicts import find_conflicts, planned_from_rows
    from belvedere.privacy.release import release_events

    with opened(store) as db:
        period = db.data_period()
        begin = (aware(datetime.fromisoformat(start)) if start
                 else period[0] if period else datetime.now(UTC))
        stop = aware(datetime.fromisoformat(end)) if end else begin + timedelta(days=366)
        rows = release_events(db, begin, stop, cli_actor("analyst"),
                              purpose).to_pylist()
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
    store: StoreOpt = None,
    start: Annotated[str | None, typer.Option(help="Replay from (ISO, UTC); default: the "
                                              "last 7 days held.")] = None,
    end: Annotated[str | None, typer.Option(help="Replay to (ISO, UTC); default: the end of "
                                            "the data.")] = None,
) -> None:
    """Replay the anomaly detector hour by hour over a stored period, as if live, and record
    its alerts (open, for a person to acknowledge: nothing is dispatched)."""
    from belvedere.models.anomalies import replay

    with opened(store) as db:
        period = db.data_period()
        if period is None:
            raise ConfigError(f"the store {db.deployment.display} holds no data")
        stop = aware(datetime.fromisoformat(end)) if end else period[1]
        begin = aware(datetime.fromisoformat(start)) if start else stop - timedelta(days=7)
        with progress_bar() as bar:
            task = bar.add_task("detecting", total=None)
            summary = replay(db, begin, stop, progress=lambda done, total: bar.update(
                task, completed=done, total=total))
        record_operation(db, cli_actor("operator"), "situation_monitoring", "combination",
                         what={"resource": "alerts", "operation": "replay",
                               "start": begin.isoformat(), "end": stop.isoformat(),
                               "opened": summary.opened, "updated": summary.updated},
                         rows=summary.opened + summary.updated)
    console.print(f"{summary.passes:,} hourly passes ({summary.fits} fits), "
                  f"{summary.candidates:,} candidates: {summary.opened:,} alerts opened, "
                  f"{summary.updated:,} updates of open alerts. Review them with "
                  "`belvedere alerts`.")


@app.command()
def alerts(
    store: StoreOpt = None,
    status: Annotated[str | None, typer.Option(
        help="open, acknowledged, closed or dismissed (all when absent).")] = None,
    role: Annotated[str, typer.Option(help="Role whose policy applies.")] = "operator",
    purpose: Annotated[str, typer.Option(help="Declared purpose.")] = "situation_monitoring",
    limit: Annotated[int, typer.Option(help="Alerts to print.")] = 40,
) -> None:
    """List the detector's alerts, released under ROLE's policy (and audited)."""
    from belvedere.privacy.alerts import release_alerts

    with opened(store) as db:
        released = release_alerts(db, cli_actor(role), purpose, status=status)
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

