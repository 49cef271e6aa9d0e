"""``belvedere dossier --out DIR``: every file of the compliance dossier, from the code.

:func:`write_dossier` reads the store's facts through the privacy layer (erasure receipts,
data period, signed tree head — one access-log line records the generation), gathers the
code's registers, builds each document, validates the PIA against the CNIL tool's structure,
and writes:

=============================  ==============================================================
``record_of_processing.json``  one record per purpose (GDPR Art. 30 / Directive Art. 24)
``record_of_processing.csv``   the same, one row per record
``pia.json``                   the DPIA, importable in the CNIL's PIA tool
``model_cards/NAME.json|.md``  a model card per forecaster, the event model, the detector
``algorithm_register.json``    the register of algorithms (Etalab's inventory fields)
``retention.json``             the retention table and the latest purge receipts
``index.html``                 the public transparency page (French and English)
``manifest.json``              what was generated, when, from what, with each file's SHA-256
=============================  ==============================================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from belvedere import __version__
from belvedere.dossier.cards import algorithm_register, card_markdown, model_cards
from belvedere.dossier.content import Context, pia_structure
from belvedere.dossier.page import render_page
from belvedere.dossier.pia import build_pia, check_pia
from belvedere.dossier.record import records, records_csv
from belvedere.errors import ConfigError
from belvedere.privacy.dossier import dossier_facts
from belvedere.privacy.release import Actor
from belvedere.store.base import Store


@dataclass(frozen=True, slots=True)
class DossierReport:
    """What was written: the files (relative path → SHA-256), the access-log line recording
    the generation, and the signed tree head published (``None`` if none)."""

    out: Path
    files: dict[str, str]
    audit_seq: int
    head: dict[str, Any] | None


def retention_document(ctx: Context) -> dict[str, Any]:
    """The retention table (``retention.toml``) with each dataset's newest purge receipt."""
    latest = ctx.facts.latest_receipts()
    table = [{"dataset": e.name, "table": e.table, "time": e.time,
              "sources": list(e.sources), "exclude_sources": list(e.exclude_sources),
              "keep_days": e.keep.days, "then_aggregate": e.aggregate, "enforced": e.enforced,
              "reason_not_enforced": " ".join(e.reason.split()) or None,
              "basis": " ".join(e.basis.split()),
              "latest_receipt": latest[e.name].as_json() if e.name in latest else None}
             for e in ctx.retention.datasets]
    return {"generated": ctx.generated.isoformat(), "source": "belvedere/privacy/retention.toml",
            "datasets": table, "kept_without_limit": ctx.retention.kept,
            "receipts_in_access_log": len(ctx.facts.receipts),
            "feeds": {n: ctx.retention_text(n) for n in ctx.dataset_ids()}}


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def write_dossier(store: Store, out: Path, *, actor: Actor, sign: bool = True,
                  now: datetime | None = None) -> DossierReport:
    """Generate the dossier into ``out`` (created if needed) for ``actor`` (the DPO).

    Args:
        store: the store, read only through :mod:`belvedere.privacy.dossier`.
        out: the folder to write.
        actor: who generates it, as the access log records it.
        sign: sign a tree head over the access log first, so that the page publishes a head
            covering this generation.
        now: the generation time (the clock by default).

    Raises:
        ConfigError: the PIA does not validate against the CNIL tool's structure, or the
            dossier's content is incomplete.
        AuditLogBroken: the access log no longer matches a head already signed.
    """
    facts = dossier_facts(store, actor, sign=sign)
    ctx = Context.gather(facts, now or datetime.now(UTC))
    pia = build_pia(ctx)
    problems = check_pia(pia)
    if problems:
        raise ConfigError("the PIA does not validate against the CNIL tool's structure: "
                          + "; ".join(problems))
    cards = model_cards(ctx)
    documents: dict[str, str] = {
        "record_of_processing.json": _json({
            "generated": ctx.generated.isoformat(), "controller": ctx.controller,
            "dpo_contact": ctx.dpo_contact, "records": records(ctx)}),
        "record_of_processing.csv": records_csv(records(ctx)),
        "pia.json": _json(pia),
        "algorithm_register.json": _json(algorithm_register(ctx, cards)),
        "retention.json": _json(retention_document(ctx)),
        "index.html": render_page(ctx, cards),
    }
    for name, card in cards.items():
        documents[f"model_cards/{name}.json"] = _json(card)
        documents[f"model_cards/{name}.md"] = card_markdown(card)
    files = {}
    for name, text in documents.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    manifest = {
        "generator": f"belvedere {__version__} — belvedere dossier",
        "generated": ctx.generated.isoformat(), "access_log_line": facts.audit_seq,
        "signed_tree_head": facts.head, "store": facts.status,
        "pia_structure": pia_structure()["source"], "files": files,
    }
    (out / "manifest.json").write_text(_json(manifest), encoding="utf-8")
    return DossierReport(out, files, facts.audit_seq, facts.head)
