"""`belvedere dossier`: every feed, purpose and model appears; the PIA answers every question of
the CNIL tool with gauges in range; the page loads nothing from outside; the generation is in
the access log; the embedded figures are the benchmark reports'."""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.dossier.cards import FEATURES, RESIDENT_ATTRIBUTES
from belvedere.dossier.content import TO_COMPLETE, Context, content, question_ids
from belvedere.dossier.measures import MEASURES
from belvedere.dossier.page import STRINGS
from belvedere.dossier.pia import build_pia, check_pia
from belvedere.models.registry import forecasters
from belvedere.privacy import audit
from belvedere.privacy.dossier import dossier_facts
from belvedere.privacy.purposes import registry
from belvedere.privacy.release import Actor
from belvedere.privacy.retention import purge
from belvedere.sources.base import registry as source_registry
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import copy_store, discard_store

DOCS = Path(__file__).resolve().parents[2] / "docs"
MODELS = [*forecasters(), "event_impact", "anomalies"]
# The question ids of the CNIL PIA tool's structure (src/assets/files/pia_architecture.json),
# written out here so that the embedded copy cannot drift unnoticed.
CNIL_QUESTIONS = [111, 112, 113, 121, 122, 123, 211, 212, 213, 214, 215, 221, 222, 223, 224,
                  225, 226, 227, 321, 322, 323, 324, 325, 326, 331, 332, 333, 334, 335, 336,
                  341, 342, 343, 344, 345, 346]
ART30_COLUMNS = ("controller", "dpo_contact", "purpose", "legal_basis", "data_subjects",
                 "personal_data", "recipients", "transfers", "retention", "security_measures")


@pytest.fixture(scope="module")
def dossier(city_store_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Any]]:
    """The 14-day city, purged 31 days after its end (the CCTV data go, with receipts), then
    `belvedere dossier` run on it (``store`` is the URL of that private copy)."""
    base = tmp_path_factory.mktemp("dossier")
    store = copy_store(city_store_url, base)
    try:
        db = open_store(store)
        period = db.data_period()
        assert period is not None
        outcomes = purge(db, now=period[1] + timedelta(days=31),
                         actor=Actor("cli:admin", "admin"))
        erased = {o.dataset.name: o.receipt.count for o in outcomes if o.receipt.count}
        db.close()
        out = base / "out"
        result = CliRunner().invoke(app, ["dossier", "--store", store, "--out", str(out)],
                                    env={"BELVEDERE_DPO_CONTACT": "dpo@example.org"})
        assert result.exit_code == 0, result.output
        yield {"store": store, "out": out, "erased": erased, "output": result.output}
    finally:
        discard_store(store)


def _json(d: dict[str, Any], name: str) -> Any:
    return json.loads((d["out"] / name).read_text(encoding="utf-8"))


def test_dossier_writes_every_file_listed_in_its_manifest(dossier: dict[str, Any]) -> None:
    manifest = _json(dossier, "manifest.json")
    assert {"record_of_processing.json", "record_of_processing.csv", "pia.json",
            "algorithm_register.json", "retention.json", "index.html"} <= set(manifest["files"])
    for name, digest in manifest["files"].items():
        data = (dossier["out"] / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        if name.endswith(".json"):
            json.loads(data)
    assert manifest["pia_structure"]["structure"]["commit"] == \
        "98f700049e16d953449d4f89f1d2f9d514e93303"


def test_every_feed_purpose_and_model_appears(dossier: dict[str, Any]) -> None:
    records = _json(dossier, "record_of_processing.json")["records"]
    purposes = registry().purposes
    assert sorted(r["record_id"] for r in records) == \
        sorted(f"{p.regime}:{p.id}" for p in purposes.values())
    covered = {d for r in records for d in r["datasets"]}
    page = (dossier["out"] / "index.html").read_text(encoding="utf-8")
    pia = _json(dossier, "pia.json")
    data_answer = next(a for a in pia["answers"] if a["reference_to"] == 121)["data"]["text"]
    retention = _json(dossier, "retention.json")["feeds"]
    for name, source in source_registry().items():
        assert name in covered, name
        assert f'data-dataset="{name}"' in page and source.info.label_fr in page, name
        assert f"({name})" in data_answer and name in retention, name
    for purpose in purposes:
        assert f'data-purpose="{purpose}"' in page
    register = _json(dossier, "algorithm_register.json")
    forecast = next(a for a in register["algorithms"] if a["id"] == "forecast")
    assert set(forecast["parameters_and_weights"]["ensemble"]["members"]) == \
        {"boosted", "etas", "kde"}
    for model in MODELS:
        card = _json(dossier, f"model_cards/{model}.json")
        assert card["name"] == model and card["model"]["parameters"], model
        assert (dossier["out"] / f"model_cards/{model}.md").read_text().startswith("# Model card")


def test_the_record_has_the_article_30_columns_and_no_transfer(dossier: dict[str, Any]
                                                                ) -> None:
    text = (dossier["out"] / "record_of_processing.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert set(ART30_COLUMNS) <= set(rows[0])
    assert len(rows) == len(registry().purposes)
    regimes = {r["purpose_id"]: r["regime"] for r in rows}
    assert regimes["situation_monitoring"] == "directive_2016_680"
    assert regimes["public_information"] == "gdpr"
    for row in rows:
        assert row["dpo_contact"] == "dpo@example.org"
        assert row["transfers"].startswith("None") and "Hash-chained access log" in \
            row["security_measures"]
    # The public never gets exact figures, nor hospital arrivals.
    public = next(r for r in rows if r["purpose_id"] == "public_information")
    mine = [r for r in public["recipients"].split(" | ") if r.startswith("public (")]
    assert len(mine) == 1 and "noise, ε = " in mine[0] and "exact" not in mine[0]
    assert "hospital_ed" not in public["datasets"].split(" | ")
    # A purpose's stored outputs are kept as retention.toml says: the quarantine 90 days.
    quality = next(r for r in rows if r["purpose_id"] == "data_quality")
    assert "quarantine (quarantine): 90 days" in quality["retention"]


def test_the_pia_answers_every_question_of_the_cnil_tool(dossier: dict[str, Any]) -> None:
    pia = _json(dossier, "pia.json")
    assert question_ids() == CNIL_QUESTIONS
    assert check_pia(pia) == []
    assert sorted(a["reference_to"] for a in pia["answers"]) == CNIL_QUESTIONS
    gauges = {a["reference_to"]: a["data"]["gauge"] for a in pia["answers"]
              if a["data"]["gauge"] is not None}
    assert set(gauges) == {325, 326, 335, 336, 345, 346}
    assert all(1 <= g <= 4 for g in gauges.values())
    assert pia["pia"]["dbVersion"] == 201707071818 and pia["comments"] == []
    titles = {m["title"] for m in pia["measures"]}
    assert titles == {m.title for m in MEASURES.values()}
    # Every evaluation is pending: the content goes to the evaluator for review.
    assert {e["status"] for e in pia["evaluations"]} == {0}
    assert {"1.1", "1.2", "2.1.215", "2.2.227", "3.2", "3.3", "3.4", "3.1.1"} <= \
        {e["reference_to"] for e in pia["evaluations"]}


def test_check_pia_names_what_the_tool_would_refuse(store: Store) -> None:
    ctx = Context.gather(dossier_facts(store, Actor("cli:dpo", "dpo"), sign=False),
                         datetime(2026, 1, 5, tzinfo=UTC))
    pia = build_pia(ctx)
    assert check_pia(pia) == []
    pia["answers"] = [a for a in pia["answers"] if a["reference_to"] != 215]
    severity = next(a for a in pia["answers"] if a["reference_to"] == 325)
    severity["data"]["gauge"] = 5
    controls = next(a for a in pia["answers"] if a["reference_to"] == 324)
    controls["data"]["list"].append("Encryption at rest")
    pia["evaluations"][0]["gauges"] = {"x": 7, "y": 0}
    del pia["pia"]["dbVersion"]
    assert check_pia(pia) == ["pia.dbVersion missing: the tool refuses the file"]
    pia["pia"]["dbVersion"] = 201707071818
    assert check_pia(pia) == [
        "question 324: measure 'Encryption at rest' is not among the measures",
        "question 325: gauge 5 is not in 1–4",
        "question 215 unanswered",
        "evaluation 1.1: gauges {'x': 7, 'y': 0} not in 0–4",
    ]


def test_the_page_is_bilingual_and_loads_nothing_from_outside(dossier: dict[str, Any]) -> None:
    page = (dossier["out"] / "index.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in page and 'lang="en"' in page
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, re.IGNORECASE)
    assert links and all(link.startswith("#") for link in links), links
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b|url\(|@import", page,
                         re.IGNORECASE)
    assert STRINGS["fr"].keys() == STRINGS["en"].keys()
    assert "dpo@example.org" in page and "Ce que belvedere ne fait pas" in page


def test_the_generation_is_audited_and_the_published_head_covers_it(dossier: dict[str, Any]
                                                                     ) -> None:
    db = open_store(dossier["store"])
    rows = db.audit_rows()
    verification = audit.verify(db)
    db.close()
    lines = [r for r in rows if json.loads(r.what).get("resource") == "access_log:dossier"]
    assert len(lines) == 1
    line = lines[0]
    receipts = [r for r in rows if r.action == "erasure"]
    assert (line.role, line.purpose, line.action, line.rows_released) == \
        ("dpo", "dpo_review", "consultation", len(receipts))
    manifest = _json(dossier, "manifest.json")
    head = manifest["signed_tree_head"]
    assert manifest["access_log_line"] == line.seq and head["tree_size"] >= line.seq
    assert verification.ok and head["root_hash"] in \
        (dossier["out"] / "index.html").read_text()
    assert f"line #{line.seq}" in " ".join(dossier["output"].split())


def test_the_retention_table_carries_the_latest_purge_receipts(dossier: dict[str, Any]
                                                               ) -> None:
    doc = _json(dossier, "retention.json")
    table = {d["dataset"]: d for d in doc["datasets"]}
    assert dossier["erased"]["cctv_measurements"] > 0
    for name, count in dossier["erased"].items():
        receipt = table[name]["latest_receipt"]
        assert receipt["count"] == count and len(receipt["digest"]) == 64, name
    assert table["incident_detail"]["keep_days"] == 365
    assert table["incident_detail"]["latest_receipt"] is None  # a year has not passed
    assert "30 days" in doc["feeds"]["cctv"] and "365 days" in doc["feeds"]["police_log"]


def test_every_builtin_feed_and_model_is_described() -> None:
    text = content()
    for name in source_registry():
        described = text["datasets"][name]
        assert described["subjects"] and described["personal"], name
    for name in MODELS:
        assert {"method", "intended_use", "limits"} <= set(text["models"][name]), name
    assert set(text["purposes"]) == set(registry().purposes)
    for name in forecasters():
        assert name in text["benchmarks"]["toronto_2020"]["rows"], name
    for words in FEATURES.values():
        for feature in words:
            found = [w for w in RESIDENT_ATTRIBUTES if re.search(rf"\b{w}\b", feature, re.I)]
            assert not found, (feature, found)
    assert TO_COMPLETE in text["pia"]["answers"]["226"]  # the processors are the city's to list


def test_every_measure_names_code_that_exists() -> None:
    for measure in MEASURES.values():
        assert measure.code, measure.id
        for ref in measure.code:
            module, _, attribute = ref.partition(":")
            loaded = importlib.import_module(module)
            assert not attribute or hasattr(loaded, attribute), ref


def _table_rows(doc: str, heading: str) -> list[list[str]]:
    section = doc.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def _number(text: str) -> float:
    return float(text.replace("−", "-").replace("%", "").replace(",", "").split()[0])


def test_embedded_figures_are_the_benchmark_reports() -> None:
    bench = content()["benchmarks"]
    doc = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    toronto = {r[1]: r for r in _table_rows(doc, "## Forecasting on real data: Toronto 2020")
               if r[0] == "all"}
    for model, values in bench["toronto_2020"]["rows"].items():
        row = toronto[model]
        low, high = re.findall(r"\[([\d.]+)–([\d.]+)\]", row[2])[0]
        assert values == [_number(row[2]), float(low), float(high), _number(row[3]),
                          _number(row[4]), _number(row[5])], model
    chicago = {r[0]: r for r in _table_rows(doc, "## Event impact on real data: Chicago 2022")}
    for park, values in bench["chicago_2022"]["rows"].items():
        assert values == [_number(c) for c in chicago[park][1:]], park
    assert "MAE **0.225** for the event model against\n0.245" in doc
    models_doc = (DOCS / "models.md").read_text(encoding="utf-8")
    found, planted, recall, false, median, longest = bench["anomalies_sim"]["rows"]["all"]
    assert f"**{found} / {planted} (recall {recall:.2f})**" in models_doc
    assert f"**{false:.2f}**" in models_doc and f"**{median} / {longest}**" in models_doc


def test_the_docs_describe_every_file() -> None:
    doc = (DOCS / "dossier.md").read_text(encoding="utf-8")
    for name in ("record_of_processing.json", "record_of_processing.csv", "pia.json",
                 "model_cards/", "algorithm_register.json", "retention.json", "index.html",
                 "manifest.json", "BELVEDERE_DPO_CONTACT"):
        assert name in doc, name
