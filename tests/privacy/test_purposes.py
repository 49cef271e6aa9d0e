"""The register of purposes and policies: loaded, coherent with the code, strict on refusal."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from belvedere.errors import ConfigError, PolicyDenied
from belvedere.privacy.policy import COUNT_METRICS, POLICIES, PURPOSES, check_purpose
from belvedere.privacy.purposes import (
    REGISTRY_PATH,
    load,
    output_of,
    policy_table,
    registry,
)
from belvedere.privacy.release import Actor, release, release_events
from belvedere.sources.base import registry as sources
from belvedere.sources.hospital_ed import MOTIFS
from belvedere.store.base import SituationQuery
from belvedere.store.duckdb import DuckDBStore
from tests.privacy.populate import START

DOCS = Path(__file__).resolve().parents[2] / "docs"
REG = registry()


def test_the_registry_knows_every_role_feed_and_purpose_of_the_code() -> None:
    assert set(REG.roles) == set(POLICIES)
    assert set(REG.datasets) == set(sources())
    assert {p.id: p.label for p in REG.purposes.values()} == PURPOSES
    assert {"situation_monitoring", "event_preparation", "analysis", "public_information",
            "dpo_review", "data_quality", "account_administration",
            "retention"} == set(REG.purposes)
    for d in REG.datasets.values():
        assert set(d.counts) <= COUNT_METRICS, d.id
    assert set(REG.datasets["hospital_ed"].categories) == set(MOTIFS)
    # The regimes, as docs/privacy.md argues them: police data and CCTV under the Directive.
    assert {d.id for d in REG.datasets.values() if d.regime == "directive_2016_680"} == {
        "police_log", "cctv"}


def test_only_the_controllers_agents_receive_exact_counts() -> None:
    noised_outputs = {o.id for o in REG.outputs.values() if o.noised}
    for (role, purpose), row in REG.policies.items():
        if REG.roles[role].controller_agent:
            continue
        if noised_outputs & set(row.outputs):
            assert row.noised, f"{role} × {purpose} would receive exact counts"
            # A noised release needs a public key domain: arrondissements or the city.
            assert POLICIES[role].finest_level in ("zone", "city"), role
            assert POLICIES[role].k is not None, role


def test_every_role_default_purpose_is_one_it_may_hold() -> None:
    for role, entry in REG.roles.items():
        if entry.default_purpose is not None:
            assert (role, entry.default_purpose) in REG.policies


def test_check_purpose_and_authorise_name_the_rule_that_refuses() -> None:
    check_purpose("analysis")
    with pytest.raises(PolicyDenied, match="undeclared purpose 'curiosity'"):
        check_purpose("curiosity")
    with pytest.raises(PolicyDenied, match=r"no \[\[policies\]\] row for operator × "
                                           r"public_information"):
        REG.authorise("operator", "public_information")
    with pytest.raises(PolicyDenied, match=re.escape(
            "purpose 'public_information' does not allow the dataset 'hospital_ed' (registry "
            "rule: purposes.public_information.datasets")):
        REG.authorise("public", "public_information", datasets=("hospital_ed",))
    with pytest.raises(PolicyDenied, match=re.escape(
            "purpose 'data_quality' does not allow the output 'situation' (registry rule: "
            "purposes.data_quality.outputs")):
        REG.authorise("analyst", "data_quality", outputs=("situation",))
    with pytest.raises(PolicyDenied, match=re.escape("policies[machine × situation_monitoring]"
                                                     ".outputs")):
        REG.authorise("machine", "situation_monitoring", outputs=("situation",))


def test_the_gate_refuses_a_purpose_that_does_not_allow_the_dataset(
        store: DuckDBStore) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=1), sources=("hospital_ed",))
    with pytest.raises(PolicyDenied, match=re.escape("purposes.public_information.datasets")):
        release(store, q, Actor("pub", "public"), "public_information")
    with pytest.raises(PolicyDenied, match=re.escape("purposes.account_administration.outputs")):
        release_events(store, START, START + timedelta(days=1), Actor("adm", "admin"),
                       "account_administration")
    assert store.audit_rows() == [] and store.ledger_rows() == []


def test_a_query_naming_no_feed_covers_the_feeds_the_purpose_allows(store: DuckDBStore) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=1))
    rel = release(store, q, Actor("pub", "public"), "public_information")
    assert rel.granted.sources == REG.purposes["public_information"].datasets
    assert "hospital_ed" not in rel.granted.sources


def test_purpose_resolution_prefers_the_declared_then_the_route_then_the_role() -> None:
    assert REG.resolve_purpose("public", "analysis", "situation_monitoring") == "analysis"
    assert REG.resolve_purpose("analyst", None, "situation_monitoring") == "situation_monitoring"
    assert REG.resolve_purpose("public", None, "situation_monitoring") == "public_information"
    assert REG.resolve_purpose("dpo", None, "event_preparation") == "dpo_review"
    assert REG.resolve_purpose("agent", None, "analysis") == "analysis"  # refused by the gate


def test_output_of_maps_access_log_resources_to_outputs() -> None:
    assert output_of("report:backtest") == "report"
    assert output_of("live_stream") == output_of("live_situation") == "live"
    assert output_of("daily_brief") == "briefing" and output_of("forecast") == "forecast"
    assert output_of("api_tokens") == output_of("users") == "accounts"


@pytest.mark.parametrize(("change", "complaint"), [
    (("regime = \"gdpr\"\nlegal_basis", "regime = \"common_law\"\nlegal_basis"), "regime"),
    (("retention = \"P5Y\"", "retention = \"five years\""), "ISO 8601 duration"),
    (("epsilon = 0.5\n\n[[policies]]\nrole = \"analyst\"\npurpose = \"situation_monitoring\"",
      "epsilon = 0\n\n[[policies]]\nrole = \"analyst\"\npurpose = \"situation_monitoring\""),
     "needs epsilon > 0"),
    (("mechanism = \"discrete_laplace\"\nepsilon = 0.5\nnote = \"Preparing",
      "mechanism = \"laplace_please\"\nepsilon = 0.5\nnote = \"Preparing"), "mechanism is one of"),
    (("outputs = [\"quarantine\"]", "outputs = [\"quarantine\", \"crystal_ball\"]"),
     "unknown ['crystal_ball']"),
    (("retention = \"P90D\"\n", "retention = \"P90D\"\n\n[[policies]]\nrole = \"public\"\n"
      "purpose = \"data_quality\"\nmechanism = \"discrete_laplace\"\nepsilon = 1.0\n"),
     "is noised but purposes.data_quality has no budget"),
])
def test_a_broken_registry_is_refused_with_the_reason(
        tmp_path: Path, change: tuple[str, str], complaint: str) -> None:
    text = REGISTRY_PATH.read_text(encoding="utf-8")
    assert change[0] in text
    broken = tmp_path / "registry.toml"
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        load(broken)


def test_docs_privacy_shows_the_policy_table_of_the_registry() -> None:
    text = (DOCS / "privacy.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- policy-table -->\n(.*?)\n<!-- /policy-table -->", text, re.DOTALL)
    assert found, "docs/privacy.md lost its <!-- policy-table --> block"
    assert found.group(1) == policy_table(), (
        "docs/privacy.md's policy table differs from the registry; replace it with:\n"
        + policy_table())
