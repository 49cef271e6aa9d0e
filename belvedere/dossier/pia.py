"""The data-protection impact assessment as a file the CNIL's PIA tool imports.

The format is the tool's export (``pia_structure.json`` says where it was read: the tool's
``importData``, its example export, its structure file): an object with

- ``pia``: the assessment's header — ``dbVersion`` (the import refuses a file without it),
  name, author, evaluator, validator, status (0: in progress), dates;
- ``answers``: one per question id of the tool's structure (``reference_to`` = the id), each
  ``data = {text, gauge, list}``: HTML text for text questions, a list for the risks' impacts,
  threats, sources and measures, and a gauge 1–4 (negligible, limited, important, maximum)
  with its justification for the risks' seriousness and likelihood;
- ``measures``: the measures belvedere implements (:mod:`belvedere.dossier.measures`), which
  the risks' measure lists name by title;
- ``evaluations``: one per item or question the tool evaluates, status 0 (*pending*): the
  content is submitted for review; the evaluator's judgement and residual gauges are theirs;
- ``comments``: none.

Which answers come from where: the context, purposes, legal bases, data, minimisation,
retention and life cycle are generated from the code's registers (:data:`GENERATED`); the
risks from ``content.toml``'s risk analysis; the other statements of practice from
``content.toml``'s ``[pia.answers]``. :func:`check_pia` validates a file against the tool's
structure: every question answered once, gauges in range, measures named, references valid.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from belvedere.dossier.content import Context, pia_structure, question_ids
from belvedere.dossier.measures import MEASURES
from belvedere.errors import ConfigError
from belvedere.privacy.policy import DEFAULT_K
from belvedere.privacy.purposes import REGIMES

PIA_ID = 1
GAUGES = range(1, 5)
"""The tool's gauge values for a risk's seriousness and likelihood."""
Block = str | list[str]


def as_html(*blocks: Block) -> str:
    """Paragraphs (``str``) and bullet lists (``list``) as the small HTML the tool edits."""
    def text(s: str) -> str:  # the registers' TOML strings carry hard line breaks
        return html.escape(" ".join(s.split()), quote=False)

    out = []
    for block in blocks:
        if isinstance(block, list):
            out.append("<ul>" + "".join(f"<li>{text(i)}</li>" for i in block) + "</ul>")
        else:
            out.append(f"<p>{text(block)}</p>")
    return "".join(out)


def _js_time(ctx: Context) -> str:
    """The generation time as JavaScript's ``Date.toISOString`` writes it."""
    return ctx.generated.strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ctx.generated.microsecond // 1000:03d}Z"


# -- answers generated from the code's registers ---------------------------------------------

def _overview(ctx: Context) -> list[Block]:
    purposes = [f"{p.label} ({REGIMES.get(p.regime, p.regime)})"
                for p in ctx.registry.purposes.values()]
    return [
        f"belvedere is the place-based public-safety data observatory of {ctx.controller}: "
        "it puts the city's feeds on one space-time grid (H3 cells, arrondissements, hours) to "
        "give the supervision centre one live picture, anticipate the load of planned events, "
        "raise alerts on what is abnormal and produce briefings. Its outputs are aggregates "
        "keyed by place and time; no output, model or decision targets a person.",
        "Purposes (register of purposes, belvedere/privacy/registry.toml):", purposes,
        "Stakes: crowd safety at matches, concerts and demonstrations; faster reaction to "
        "incidents; public accountability — published algorithms and accuracy, a "
        "tamper-evident access log, measured privacy loss, enforced retention — answering "
        "the critique that met the city's earlier project.",
        f"This assessment was generated from the code by `belvedere dossier` on "
        f"{ctx.generated:%Y-%m-%d}: it is the project's proposal, for the evaluator and the "
        "DPO to review.",
    ]


def _responsibilities(ctx: Context) -> list[Block]:
    suppliers = sorted({d.supplier for d in ctx.registry.datasets.values()})
    return [
        f"Controller: {ctx.controller}. {ctx.registry.controller.note}",
        "Suppliers of the feeds (controllers of their own systems, sending data under "
        "agreement):", suppliers,
        "Processors: hosting, maintenance or integration acting for the controller "
        "(to complete by the controller; belvedere itself calls none).",
        f"Data-protection officer: {ctx.dpo_contact}.",
    ]


def _data(ctx: Context) -> list[Block]:
    items = []
    for name in ctx.dataset_ids():
        roles = sorted({r.role for r in ctx.registry.policies.values() if name in r.datasets})
        text = ctx.dataset_text(name)
        items.append(
            f"{ctx.dataset_label(name)} ({name}) — fields kept: "
            f"{', '.join(ctx.kept_fields(name)) or 'none declared'}. {text.get('personal', '')} "
            f"Retention: {ctx.retention_text(name)}. Recipients (roles): "
            f"{', '.join(roles) or 'none'}.")
    return ["Data processed, per feed:", items,
            "Users' data: account name, role and Argon2id password hash; their accesses in "
            "the access log under a keyed pseudonym.",
            "Not processed:", list(ctx.text.get("not_processed", []))]


def _life_cycle(ctx: Context) -> list[Block]:
    return [[
        "Collection: the suppliers' exports (files) and devices' pushes (MQTT, HTTP with "
        "named machine tokens) reach one connector per feed.",
        "Minimisation at the door: each connector keeps only its allowlisted fields, replaces "
        "identifiers it must keep distinct by keyed pseudonyms, redacts or drops free text and "
        "refuses red-line payloads; invalid rows are quarantined with their reason.",
        "Storage: one store (DuckDB file, or PostgreSQL), times in UTC, places as H3 cells and "
        "arrondissements; each file appended in one transaction with its ingest log.",
        f"Release: every figure reaching a person passes the release gate — coarsened to the "
        f"role's finest level, counts under k = {DEFAULT_K} withheld for the thresholded roles, "
        "noised for analysts, the DPO and the public, charged to the purpose's privacy budget, "
        "recorded in the access log.",
        "Models: forecasts, event anticipation and anomaly alerts are computed from stored "
        "aggregates and released like any figure; they advise a person, nothing is "
        "dispatched.",
        "Erasure: each dataset is purged at the end of its retention (incidents coarsened into "
        "hourly aggregates first), with a receipt in the access log.",
    ]]


def _purposes(ctx: Context) -> list[Block]:
    return [
        "Each purpose is one entry of the register of purposes, with its regime, legal basis, "
        "datasets, outputs and retention; every release declares its purpose, and the release "
        "gate refuses an undeclared one or a role, dataset or output the register does not "
        "allow, naming the rule.",
        [f"{p.id}: {p.label} Datasets: {', '.join(p.datasets) or 'none'}. Outputs: "
         f"{', '.join(p.outputs)}." for p in ctx.registry.purposes.values()],
    ]


def _legal_bases(ctx: Context) -> list[Block]:
    return [[f"{p.id} ({REGIMES.get(p.regime, p.regime)}): {p.legal_basis}"
             for p in ctx.registry.purposes.values()]]


def _minimisation(ctx: Context) -> list[Block]:
    return [
        "Only the allowlisted fields of each feed are read; everything else is dropped before "
        "storage (counted in the ingest log):",
        [f"{ctx.dataset_label(n)}: {', '.join(ctx.kept_fields(n)) or 'none declared'}"
         for n in ctx.dataset_ids()],
        "Outputs are coarsened per role and thresholded; figures about residents and patients "
        "(presence, hospital arrivals) arrive already aggregated and are thresholded for every "
        "role. Never processed:", list(ctx.text.get("not_processed", [])),
    ]


def _storage(ctx: Context) -> list[Block]:
    rows = [f"{e.name} ({e.table}): {e.keep.days} days"
            + (", then hourly aggregates" if e.aggregate else "")
            + ("" if e.enforced else f" — decided, not enforced yet: {e.reason}")
            + f". Why: {e.basis}" for e in ctx.retention.datasets]
    kept = [f"{table}: {why}" for table, why in ctx.retention.kept.items()]
    return ["Retention per dataset (belvedere/privacy/retention.toml), enforced by the purge "
            "with a receipt in the access log:", rows,
            "Kept without a time limit, and why:", kept]


GENERATED: dict[int, Callable[[Context], list[Block]]] = {
    111: _overview, 112: _responsibilities, 121: _data, 122: _life_cycle, 211: _purposes,
    212: _legal_bases, 213: _minimisation, 215: _storage,
}
"""The questions answered from the code's registers."""

RISK_FIELDS = {1: "impacts", 2: "threats", 3: "sources", 4: "measures"}
"""The list questions of a risk item, by the last digit of their id."""


def _risk(ctx: Context, section: int, item: int) -> dict[str, Any] | None:
    if section != 3:
        return None
    return next((r for r in ctx.text.get("risks", {}).values() if r.get("item") == item), None)


def answer_data(ctx: Context, qid: int, question: dict[str, Any]) -> dict[str, Any]:
    """``data`` of question ``qid``'s answer (:class:`ConfigError` if nothing answers it)."""
    kind = question["answer_type"]
    risk = _risk(ctx, qid // 100, qid // 10 % 10)
    if risk is not None:
        part = qid % 10
        if kind == "list":
            field = RISK_FIELDS[part]
            values = risk.get(field, [])
            if field == "measures":
                values = [MEASURES[m].title for m in values]
            return {"text": None, "gauge": None, "list": list(values)}
        which = "seriousness" if part == 5 else "likelihood"
        return {"text": as_html(str(risk[f"{which}_why"])), "gauge": int(risk[which]),
                "list": []}
    if qid in GENERATED:
        return {"text": as_html(*GENERATED[qid](ctx)), "gauge": None, "list": []}
    static = ctx.text.get("pia", {}).get("answers", {}).get(str(qid))
    if static is None:
        raise ConfigError(f"PIA question {qid} ({question['title']}) has no answer: add it to "
                          "belvedere/dossier/content.toml [pia.answers] or the risks")
    return {"text": as_html(*(p.strip() for p in str(static).split("\n\n"))), "gauge": None,
            "list": []}


def _evaluation_refs(measures: list[dict[str, Any]]) -> list[str]:
    """The references the tool evaluates: ``s.i`` for items evaluated as a whole,
    ``s.i.question`` for items evaluated per question, ``3.1.measure`` for each measure."""
    refs = []
    for section in pia_structure()["sections"]:
        for item in section["items"]:
            where = f"{section['id']}.{item['id']}"
            if item.get("is_measure"):
                refs += [f"{where}.{m['id']}" for m in measures]
            elif item["evaluation_mode"] == "item":
                refs.append(where)
            elif item["evaluation_mode"] == "question":
                refs += [f"{where}.{q['id']}" for q in item["questions"]]
    return refs


def build_pia(ctx: Context) -> dict[str, Any]:
    """The PIA as the CNIL tool imports it."""
    structure = pia_structure()
    when = _js_time(ctx)
    measures = [{"id": n, "pia_id": PIA_ID, "title": m.title,
                 "content": as_html(m.description, "Code: " + ", ".join(m.code)),
                 "placeholder": "measures.default_placeholder", "created_at": when}
                for n, m in enumerate(MEASURES.values(), start=1)]
    questions = {q["id"]: q for s in structure["sections"] for i in s["items"]
                 for q in i["questions"]}
    answers = [{"id": n, "pia_id": PIA_ID, "reference_to": qid,
                "data": answer_data(ctx, qid, questions[qid]), "created_at": when}
               for n, qid in enumerate(question_ids(), start=1)]
    evaluations = [{"id": n, "pia_id": PIA_ID, "reference_to": ref, "status": 0,
                    "global_status": 0, "evaluation_comment": "", "action_plan_comment": "",
                    "gauges": {"x": 0, "y": 0}, "estimated_implementation_date": None,
                    "created_at": when}
                   for n, ref in enumerate(_evaluation_refs(measures), start=1)]
    text = ctx.text.get("pia", {})
    return {
        "pia": {
            "dbVersion": structure["db_version"], "tableName": "pia", "id": PIA_ID,
            "numberOfQuestions": len(questions), "status": 0, "is_example": 0,
            "is_archive": 0, "name": text.get("name", "belvedere"),
            "category": text.get("category", ""),
            "author_name": "belvedere dossier (generated from the code)",
            "evaluator_name": f"Data-protection officer — {ctx.dpo_contact}",
            "validator_name": ctx.controller, "dpo_status": None, "dpo_opinion": "",
            "dpos_names": "", "concerned_people_opinion": "", "concerned_people_status": None,
            "concerned_people_searched_opinion": None,
            "concerned_people_searched_content": "", "people_names": "",
            "rejection_reason": "", "applied_adjustments": "", "structure_id": None,
            "created_at": when, "updated_at": when,
        },
        "answers": answers, "measures": measures, "evaluations": evaluations, "comments": [],
    }


def check_pia(data: dict[str, Any]) -> list[str]:
    """What is wrong with a PIA file against the tool's structure (empty when it is fine):
    every question answered exactly once with the data its type needs, gauges in 1–4, every
    measure a risk names present, every evaluation reference one the tool knows, evaluation
    gauges in 0–4 (0: not re-evaluated yet)."""
    problems = []
    if "dbVersion" not in data.get("pia", {}):
        problems.append("pia.dbVersion missing: the tool refuses the file")
    for key in ("answers", "measures", "evaluations", "comments"):
        if not isinstance(data.get(key), list):
            problems.append(f"{key} must be a list")
    if problems:
        return problems
    structure = pia_structure()
    questions = {q["id"]: q for s in structure["sections"] for i in s["items"]
                 for q in i["questions"]}
    seen: dict[int, int] = {}
    titles = {m.get("title") for m in data["measures"]}
    for a in data["answers"]:
        qid, d = a.get("reference_to"), a.get("data", {})
        if qid not in questions:
            problems.append(f"answer to unknown question {qid!r}")
            continue
        seen[qid] = seen.get(qid, 0) + 1
        kind = questions[qid]["answer_type"]
        if kind == "gauge" and d.get("gauge") not in GAUGES:
            problems.append(f"question {qid}: gauge {d.get('gauge')!r} is not in 1–4")
        if kind == "list" and not d.get("list"):
            problems.append(f"question {qid}: empty list")
        if kind in ("text", "gauge") and not d.get("text"):
            problems.append(f"question {qid}: no text")
        if questions[qid].get("is_measure"):
            problems += [f"question {qid}: measure {t!r} is not among the measures"
                         for t in d.get("list", []) if t not in titles]
    problems += [f"question {q} unanswered" for q in questions if q not in seen]
    problems += [f"question {q} answered {n} times" for q, n in seen.items() if n > 1]
    refs = set(_evaluation_refs(data["measures"]))
    for e in data["evaluations"]:
        if e.get("reference_to") not in refs:
            problems.append(f"evaluation of unknown reference {e.get('reference_to')!r}")
        gauges = e.get("gauges", {})
        if any(gauges.get(axis) not in range(0, 5) for axis in ("x", "y")):
            problems.append(f"evaluation {e.get('reference_to')}: gauges {gauges} not in 0–4")
    return problems
