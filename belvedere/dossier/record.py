"""The record of processing activities: GDPR Art. 30(1) for the purposes under the GDPR,
Directive (EU) 2016/680 Art. 24(1) for the law-enforcement ones — one record per purpose,
under the regime the register of purposes gives it.

The fields are the articles' own: the controller and the DPO's contact, the purpose, the
categories of data subjects and of personal data, the recipients, transfers to third
countries, the time limits for erasure and the security measures, plus, for the Directive,
the legal basis and the use of profiling. Everything comes from the code's registers
(:class:`~belvedere.dossier.content.Context`) except who the data may be about
(``content.toml``). :data:`COLUMNS` is the CSV's header; list fields are joined with `` | ``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from belvedere.dossier.content import Context
from belvedere.dossier.measures import MEASURES
from belvedere.privacy.purposes import REGIMES, Purpose

INSTRUMENTS = {
    "gdpr": "Regulation (EU) 2016/679 (GDPR), Art. 30(1)",
    "directive_2016_680": "Directive (EU) 2016/680, Art. 24(1)",
}
"""Which article each regime's record answers."""

COLUMNS = ("record_id", "regime", "instrument", "controller", "dpo_contact", "purpose_id",
           "purpose", "legal_basis", "data_subjects", "personal_data", "not_processed",
           "datasets", "outputs", "recipients", "transfers", "profiling", "retention",
           "security_measures")
"""The CSV columns: the Art. 30 / Art. 24 fields, one record a row."""

OUTPUT_RETENTION = {"quarantine": ("quarantine", "live_files"), "alerts": ("alerts",),
                    "accounts": ("sessions", "api_tokens"), "access_log": ("access_log",),
                    "privacy_ledger": ("privacy_ledger",)}
"""Outputs that are themselves stored, and the retention entries (``retention.toml``) that
keep them: a purpose producing them keeps them that long."""

TRANSFERS = ("None: belvedere runs on the controller's servers and calls no service outside "
             "them at run time; no transfer outside the European Union.")
PROFILING = ("None: no output, model or decision concerns a person; forecasts, alerts and "
             "figures are keyed by place (H3 cell, arrondissement, site) and time.")


def record(ctx: Context, purpose: Purpose) -> dict[str, Any]:
    """The record of ``purpose``, as JSON-able data."""
    datasets = list(purpose.datasets)
    subjects: list[str] = []
    for name in datasets:
        for s in ctx.dataset_text(name).get("subjects", []):
            if s not in subjects:
                subjects.append(s)
    if purpose.id in ("account_administration", "dpo_review"):
        subjects.append("belvedere's users (staff of the controller): account name, role, "
                        "password hash; their accesses in the access log under a keyed "
                        "pseudonym")
    personal = [{"dataset": name, "label": ctx.dataset_label(name),
                 "fields_kept": ctx.kept_fields(name),
                 "description": ctx.dataset_text(name).get("personal", ""),
                 "sensitive": ctx.dataset_text(name).get("sensitive", "")}
                for name in datasets]
    retention = [{"dataset": name, "retention": ctx.retention_text(name)} for name in datasets]
    entries = {e.name: e for e in ctx.retention.datasets}
    stored = [{"output": output, "dataset": name, "keep_days": entries[name].keep.days,
               "enforced": entries[name].enforced}
              for output in purpose.outputs for name in OUTPUT_RETENTION.get(output, ())
              if name in entries]
    return {
        "record_id": f"{purpose.regime}:{purpose.id}",
        "regime": purpose.regime,
        "regime_label": REGIMES.get(purpose.regime, purpose.regime),
        "instrument": INSTRUMENTS.get(purpose.regime, purpose.regime),
        "controller": {"id": ctx.registry.controller.id, "name": ctx.controller},
        "dpo_contact": ctx.dpo_contact,
        "purpose_id": purpose.id,
        "purpose": purpose.label,
        "legal_basis": purpose.legal_basis,
        "data_subjects": subjects,
        "personal_data": personal,
        "not_processed": list(ctx.text.get("not_processed", [])),
        "datasets": datasets,
        "outputs": list(purpose.outputs),
        "recipients": ctx.recipients(purpose),
        "transfers": TRANSFERS,
        "profiling": PROFILING,
        "retention": {"purpose": purpose.retention, "datasets": retention,
                      "stored_outputs": stored},
        "security_measures": [m.title for m in MEASURES.values()],
    }


def records(ctx: Context) -> list[dict[str, Any]]:
    """Every purpose's record, the regimes in the register's order."""
    by_regime = sorted(ctx.registry.purposes.values(),
                       key=lambda p: list(REGIMES).index(p.regime) if p.regime in REGIMES else 9)
    return [record(ctx, p) for p in by_regime]


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        if "name" in value:
            return str(value["name"])
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " | ".join(_cell(v) for v in value)
    return str(value)


def _personal_cell(items: list[dict[str, Any]]) -> str:
    return " | ".join(f"{p['label']} [{', '.join(p['fields_kept'])}]: {p['description']}"
                      for p in items)


def records_csv(rows: list[dict[str, Any]]) -> str:
    """The records as CSV, one row each, the columns of :data:`COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        retention = f"{r['retention']['purpose']} (purpose); " + "; ".join(
            [f"{d['dataset']}: {d['retention']}" for d in r["retention"]["datasets"]]
            + [f"{o['output']} ({o['dataset']}): {o['keep_days']} days"
               + ("" if o["enforced"] else " (not enforced yet)")
               for o in r["retention"]["stored_outputs"]])
        writer.writerow([
            _personal_cell(r[c]) if c == "personal_data" else
            retention if c == "retention" else _cell(r[c]) for c in COLUMNS])
    return out.getvalue()
