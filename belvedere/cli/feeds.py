"""Feeds in: simulate a city, ingest files, list the connectors, review the quarantine."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from belvedere.cli.app import app, quarantine_app
from belvedere.cli.context import (
    StoreOpt,
    cli_actor,
    console,
    here,
    opened,
    progress_bar,
    warn_deployment,
)
from belvedere.privacy.operations import record_collection
from belvedere.privacy.quarantine import quarantined_row, review_quarantine
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
from belvedere.store.base import Store


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
    out = here(out)
    with progress_bar() as bar:
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


def ingest_with_progress(store: Store, folder: Path, sources: list[str] | None) -> IngestReport:
    """Ingest a folder with a progress bar, and print the report."""
    with progress_bar() as bar:
        task = bar.add_task("ingesting", total=None)

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"ingesting {label}", completed=done, total=total)

        report = ingest_folder(store, folder, sources=sources, progress=tick)
    print_ingest_report(report)
    return report


def print_ingest_report(report: IngestReport) -> None:
    """Per source: files, rows read, stored, duplicates, quarantined; then the details."""
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
    store: StoreOpt = None,
    source: Annotated[list[str] | None, typer.Option(help="Folder mode: only these feeds.")
                      ] = None,
) -> None:
    """Ingest a folder of feeds, or one FILE of source TARGET; re-running stores nothing twice."""
    if mapping is not None and mapping.endswith(".toml"):
        mapping = str(here(mapping))
    with opened(store, create=True) as db:
        warn_deployment(db)
        if file is None:
            report = ingest_with_progress(db, here(target), source)
        else:
            file = here(file)
            connector = connector_for(target, mapping)
            report = IngestReport()
            with console.status(f"ingesting {file.name} as {target}"):
                ingest_file(db, connector, file, pseudonymiser_for(db), report)
            print_ingest_report(report)
        record_collection(db, cli_actor("operator"), "situation_monitoring", report,
                          what={"resource": "ingest", "target": target,
                                "file": file.name if file else None})
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


@quarantine_app.command("list")
def quarantine_list(
    store: StoreOpt = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    status: Annotated[str, typer.Option(help="open, retried or all.")] = "open",
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """Quarantined rows: where they came from and why."""
    with opened(store) as db:
        rows, total = review_quarantine(db, cli_actor("analyst"), source=source,
                                        status=None if status == "all" else status, rule=rule,
                                        limit=limit)
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
    store: StoreOpt = None,
) -> None:
    """One quarantined row in full (its kept fields only: dropped text never was stored)."""
    try:
        batch, line = (int(x) for x in row_id.split(":"))
    except ValueError:
        raise typer.BadParameter("give BATCH:LINE, e.g. 3:1207") from None
    with opened(store) as db:
        row = quarantined_row(db, cli_actor("analyst"), batch, line)
    if row is None:
        console.print(f"[red]no quarantined row {row_id}[/red]")
        raise typer.Exit(1)
    for key in ("source", "file", "line", "rule", "reason", "status"):
        console.print(f"[bold]{key}[/bold]: {row[key]}")
    console.print_json(row["raw"])


@quarantine_app.command("retry")
def quarantine_retry(
    store: StoreOpt = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    mapping: Annotated[str | None, typer.Option(help="Read with this (fixed) mapping.")] = None,
) -> None:
    """Re-read the files that have open quarantined rows, after fixing the file or mapping."""
    if mapping is not None and mapping.endswith(".toml"):
        mapping = str(here(mapping))
    with opened(store) as db:
        report = retry_quarantine(db, source=source, mapping=mapping)
        actor = cli_actor("analyst")
        record_collection(db, actor, "data_quality", report,
                          what={"resource": "quarantine_retry", "source": source})
        _, still = review_quarantine(db, actor, source=source, status="open", limit=0)
    print_ingest_report(report)
    console.print(f"{report.stored:,} rows recovered; {still:,} rows still in quarantine.")

