"""The access log for the DPO: tail, who, verify, sign, head, key, proof; and the fairness audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.table import Table

from belvedere.errors import ConfigError
from belvedere.privacy import audit
from belvedere.privacy.access_log import consistency, inclusion, published_head, read_lines
from belvedere.privacy.release import record_release
from belvedere.store.base import AuditRow

if TYPE_CHECKING:
    pass

from belvedere.cli.app import audit_app
from belvedere.cli.context import StoreOpt, cli_actor, console, here, opened, progress_bar


@audit_app.command("tail")
def audit_tail(
    store: StoreOpt = None,
    n: Annotated[int, typer.Option("-n", help="Lines to show.")] = 20,
) -> None:
    """The newest lines of the access log (actors appear as pseudonyms: see `audit who`)."""
    with opened(store) as db:
        rows = read_lines(db, cli_actor("dpo"), limit=n)
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
    store: StoreOpt = None,
    n: Annotated[int, typer.Option("-n", help="Lines to show.")] = 20,
) -> None:
    """The DPO's re-identification: USERNAME's pseudonym in the log, and their newest lines
    (needs the store's pseudonymisation key; the search is itself recorded)."""
    with opened(store) as db:
        rows = read_lines(db, cli_actor("dpo"), limit=n, of=username)
        mine = audit.pseudonym(db, username)
    console.print(f"{username} appears in the access log as [bold]{mine}[/bold].")
    _print_lines(rows, f"Lines of {mine} (newest last)")


@audit_app.command("verify")
def audit_verify(
    store: StoreOpt = None,
    public_key: Annotated[str | None, typer.Option(
        help="Hex Ed25519 public key to check the heads with (default: the store's key).")
                          ] = None,
) -> None:
    """Recompute the access log's hash chain and Merkle tree and check every signed tree head;
    exits 1 naming the first bad line."""
    with opened(store) as db:
        public = _public_key(public_key)
        result = audit.verify(db, public)
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
def audit_sign(store: StoreOpt = None) -> None:
    """Sign a tree head over the whole access log now (refused if the log was altered)."""
    with opened(store) as db:
        head = audit.sign_head(db)
    console.print(f"signed tree head: {head.size:,} lines, root {head.root}, key {head.key_id}.")


@audit_app.command("head")
def audit_head(
    store: StoreOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the head as published JSON.")
                     ] = False,
) -> None:
    """The newest signed tree head: publish it (with the public key) so that the log cannot
    be rewritten unnoticed."""
    with opened(store) as db:
        head = published_head(db)
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
    store: StoreOpt = None,
    pem: Annotated[bool, typer.Option("--pem", help="PEM instead of hex.")] = False,
) -> None:
    """The public key that checks the signed tree heads (creating the key pair if needed)."""
    with opened(store) as db:
        key = audit.signing_key(db)
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
    store: StoreOpt = None,
) -> None:
    """A proof as JSON: a line's inclusion in a (signed) tree head (--seq, recorded: it shows
    the line), or that an older head is a prefix of a newer one (--from)."""
    if (seq is None) == (first is None):
        raise typer.BadParameter("give either --seq LINE or --from SIZE")
    with opened(store) as db:
        if seq is not None:
            out = inclusion(db, cli_actor("dpo"), seq, size)
        else:
            assert first is not None
            out = consistency(db, first, size)
    print(json.dumps(out, indent=2, sort_keys=True))


@audit_app.command("fairness")
def audit_fairness(
    store: StoreOpt = None,
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

    with opened(store) as db:
        with progress_bar() as bar:
            task = bar.add_task("fairness audit", total=None)
            report = fairness_audit(
                db, model=model, weeks=weeks, share=share, source=source, area=area,
                zones=zones, resolution=resolution, feedback_seeds=range(5) if feedback else (),
                progress=lambda label, done, total: bar.update(
                    task, description=f"fairness audit {label}", completed=done, total=total))
        seq = record_release(db, cli_actor("analyst"), "analysis", what={
            "resource": "report:fairness", "model": model, "source": source,
            "windows": len(report.windows), "share": share}, rows=report.top_cells)
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
        out = here(out)
        out.write_text(report.to_html() if out.suffix == ".html"
                       else json.dumps(report.to_dict(), indent=2))
        console.print(f"report → {out}")
    console.print(f"audit line #{seq}.")

