"""Privacy duties: purposes and the privacy-loss ledger, the retention purge, the dossier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from belvedere.errors import ConfigError
from belvedere.privacy.ledger import Spending
from belvedere.privacy.release import release
from belvedere.store.base import LedgerRow, SituationQuery

if TYPE_CHECKING:
    pass

from belvedere.cli.app import app, privacy_app
from belvedere.cli.context import StoreOpt, cli_actor, console, here, opened, parse_time


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
    store: StoreOpt = None,
    of: Annotated[str | None, typer.Option(help="Only the releases of this purpose.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Lines to show.")] = 20,
) -> None:
    """The privacy-loss ledger: the newest noised releases and each purpose's spending per
    period against its cap (the DPO's view; audited as dpo_review)."""
    from belvedere.privacy.release import release_ledger

    with opened(store) as db:
        rows, spent = release_ledger(db, cli_actor("dpo"), "dpo_review", limit=n,
                                     ledger_purpose=of)
    _print_ledger(rows, spent, title="Privacy-loss ledger (newest last)")


@privacy_app.command("demo")
def privacy_demo(
    store: StoreOpt = None,
    source: Annotated[str, typer.Option(help="The feed to count.")] = "police_log",
    days: Annotated[int, typer.Option(min=1, max=400, help="Days of data, to the end held.")
                    ] = 7,
) -> None:
    """The same query — SOURCE's total per arrondissement over the last DAYS days — released
    to an operator (situation_monitoring: exact) and to the public (public_information:
    noised, suppressed under k), side by side, then the ledger lines it produced. Both
    releases are real: audited, and the public one spends budget."""
    from belvedere.privacy.release import release_ledger

    with opened(store) as db:
        period = db.data_period()
        if period is None:
            raise ConfigError(f"the store {db.deployment.display} holds no data")
        query = SituationQuery(start=period[1] - timedelta(days=days), end=period[1],
                               sources=(source,), level="zone", bin="window",
                               by_category=False)
        exact = release(db, query, cli_actor("operator"), "situation_monitoring")
        noised = release(db, query, cli_actor("public"), "public_information")
        rows, spent = release_ledger(db, cli_actor("dpo"), "dpo_review")
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


@app.command("purge")
def purge_command(
    store: StoreOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what is due; erase nothing.")
                       ] = False,
    now: Annotated[str | None, typer.Option(
        help="Count the retention back from this time (ISO 8601, UTC if no offset) instead of "
             "the clock; a later time is refused in prod unless --dry-run.")] = None,
) -> None:
    """Erase what retention makes due (belvedere/privacy/retention.toml), one transaction per
    dataset, coarsening incidents into hourly aggregates first; each erasure's receipt goes
    to the access log (docs/retention.md)."""
    from belvedere.privacy.deployment import environment
    from belvedere.privacy.retention import purge

    clock = datetime.now(UTC)
    at = parse_time(now, "--now") if now else clock
    if at > clock and not dry_run and environment() == "prod":
        raise ConfigError("--now is later than the clock: in prod that would erase data "
                          "before its time (use --dry-run to look ahead)")
    with opened(store) as db:
        outcomes = purge(db, now=at, actor=cli_actor("admin"), dry_run=dry_run,
                         staging=db.deployment.live_dir)
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
    store: StoreOpt = None,
    sign: Annotated[bool, typer.Option(
        help="Sign a tree head over the access log first, so that the page publishes it.")
                    ] = True,
) -> None:
    """The compliance dossier, generated from the code: record of processing (JSON, CSV), a
    DPIA for the CNIL's PIA tool, model cards, the register of algorithms, retention with the
    latest purge receipts, and the public transparency page (docs/dossier.md). Audited."""
    from belvedere.dossier.build import write_dossier

    with opened(store) as db:
        report = write_dossier(db, here(out), actor=cli_actor("dpo"), sign=sign)
    head = report.head
    console.print(f"dossier → {out}: {len(report.files) + 1} files (manifest.json lists them); "
                  f"recorded at access-log line #{report.audit_seq}"
                  + (f"; signed tree head over {head['tree_size']:,} lines, root "
                     f"{head['root_hash'][:16]}…" if head else "; no signed tree head."),
                  soft_wrap=True)

