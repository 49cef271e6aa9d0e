"""Every route that releases data declares its purpose, and the registry governs it.

The routes are enumerated from ``create_app(...)``: each carries a purpose rule
(``purpose: Annotated[str, declared(default, *outputs)]``) or is listed below with the reason it
releases no data under a purpose of its own. For every role a route admits, the purpose it gets
when it declares none must let it produce the route's outputs (else the route would refuse its
own users). Over HTTP, a purpose the registry does not allow for the role, the output or the
dataset is refused with 403 and a message naming the registry rule; the DPO reads the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from belvedere.api.deps import PurposeRule
from belvedere.api.main import create_app
from belvedere.privacy.dp import SeededSampler, use_sampler
from belvedere.privacy.purposes import registry
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, open_session
from belvedere.store.factory import open_store
from tests.api.test_route_rules import APP, PUBLIC, ROLES, route_contexts, rule_of
from tests.backends import discard_store, new_store_url
from tests.privacy.populate import START, populate

NO_PURPOSE = {
    "GET /api/v1/health": "status and period held: metadata",
    "POST /api/v1/auth/login": "opens a session",
    "POST /api/v1/auth/logout": "ends a session",
    "GET /api/v1/auth/me": "the caller's own name and role",
    "GET /api/v1/sources": "the feeds' descriptions, no figure",
    "GET /api/v1/zones": "public reference geography",
    "GET /api/v1/places": "public reference places",
    "POST /api/v1/push/{feed}": "a collection by a feed's machine, not a release",
    "POST /api/v1/field-reports": "a collection by an agent, not a release",
    "GET /api/v1/audit/head": "hashes only, published",
    "GET /api/v1/audit/consistency": "hashes only, published",
    "GET /api/v1/audit/proof": "shows a log line under the fixed purpose dpo_review, checked "
                               "by the gate (belvedere.privacy.access_log.inclusion)",
    "GET /api/v1/privacy/purposes": "the register itself, published",
    "GET /": "the dashboard page (its data comes from the routes above)",
    "GET /agent": "the agents' form page",
    "GET /basemap.pmtiles": "a basemap of streets, no record",
}
REG = registry()


def purpose_rule(route: Any) -> PurposeRule | None:
    """The purpose rule in a route's dependency tree, if any."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, PurposeRule):
            return dependant.call
        stack.extend(dependant.dependencies)
    return None


ROUTES = [(f"{method} {r.path}", r) for r in route_contexts(APP)
          if isinstance(r.original_route, APIRoute) for method in sorted(r.methods)]


def test_every_route_declares_a_purpose_or_says_why_it_releases_nothing() -> None:
    without = {name for name, route in ROUTES if purpose_rule(route) is None}
    assert without == set(NO_PURPOSE), (
        "routes without a purpose rule must release no data; declare "
        "purpose: Annotated[str, declared(...)] or list the route here with the reason")
    assert len(ROUTES) - len(without) >= 19


@pytest.mark.parametrize(("name", "route"), [(n, r) for n, r in ROUTES
                                             if purpose_rule(r) is not None],
                         ids=[n for n, r in ROUTES if purpose_rule(r) is not None])
def test_each_admitted_role_gets_a_purpose_allowing_the_routes_outputs(
        name: str, route: Any) -> None:
    rule = purpose_rule(route)
    roles = rule_of(route)
    assert rule is not None and roles != PUBLIC and isinstance(roles, frozenset)
    for role in roles:
        purpose = REG.resolve_purpose(role, None, rule.default)
        REG.authorise(role, purpose, outputs=rule.outputs)  # raises if the registry refuses


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = new_store_url(tmp_path_factory.mktemp("purposes"), "p")
    db = open_store(url)
    populate(db)
    with TestClient(create_app(db)) as c, use_sampler(SeededSampler(3)):
        yield c
    db.close()
    discard_store(url)


@pytest.fixture(scope="module")
def headers(client: TestClient) -> dict[str, dict[str, str]]:
    store = client.app.state.store  # type: ignore[attr-defined]
    out = {}
    for role in ROLES:
        if role == "machine":
            continue
        add_user(store, f"p-{role}", "purposes-password-1", role=role)
        out[role] = {"Authorization": f"Bearer {open_session(store, Actor(f'p-{role}', role))}"}
    return out


WINDOW = {"start": START.isoformat(), "end": (START + timedelta(days=3)).isoformat()}


@pytest.mark.parametrize(("role", "params", "rule"), [
    ("public", {"source": "hospital_ed"}, "purposes.public_information.datasets"),
    ("analyst", {"purpose": "data_quality"}, "purposes.data_quality.outputs"),
    ("operator", {"purpose": "public_information"},
     "no [[policies]] row for operator × public_information"),
    ("analyst", {"purpose": "curiosity"}, "undeclared purpose 'curiosity'"),
    ("public", {"purpose": "situation_monitoring"},
     "no [[policies]] row for public × situation_monitoring"),
])
def test_a_purpose_the_registry_does_not_allow_is_refused_naming_the_rule(
        client: TestClient, headers: dict[str, dict[str, str]], role: str,
        params: dict[str, str], rule: str) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    lines = len(store.audit_rows())
    r = client.get("/api/v1/situation", headers=headers[role], params={**WINDOW, **params})
    assert r.status_code == 403 and rule in r.json()["detail"], r.text
    assert len(store.audit_rows()) == lines  # refused: nothing released


def test_a_role_declaring_no_purpose_gets_its_own_and_the_line_says_so(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    pub = client.get("/api/v1/situation/map", headers=headers["public"],
                     params={**WINDOW, "source": "police_log"})
    assert pub.status_code == 200, pub.text
    body = pub.json()
    assert body["noise"]["mechanism"] == "discrete_laplace" and body["noise"]["epsilon"] == 0.5
    line = store.audit_rows()[-1]
    assert (line.role, line.purpose) == ("public", "public_information")
    assert json.loads(line.what)["ledger"] == body["noise"]["ledger"]
    op = client.get("/api/v1/situation/map", headers=headers["operator"],
                    params={**WINDOW, "source": "police_log"}).json()
    assert op["noise"] is None and store.audit_rows()[-1].purpose == "situation_monitoring"
    dpo = client.get("/api/v1/alerts", headers=headers["dpo"])
    assert dpo.status_code == 200 and store.audit_rows()[-1].purpose == "dpo_review"


def test_the_dpo_reads_the_ledger_and_nobody_else_does(
        client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    released = client.get("/api/v1/situation/timeline", headers=headers["analyst"],
                          params={**WINDOW, "source": "police_log", "purpose": "analysis"})
    assert released.status_code == 200
    seq = released.json()["noise"]["ledger"]
    r = client.get("/api/v1/privacy/ledger", headers=headers["dpo"])
    assert r.status_code == 200, r.text
    body = r.json()
    row = next(x for x in body["rows"] if x["seq"] == seq)
    assert (row["actor"], row["role"], row["purpose"], row["dataset"], row["mechanism"],
            row["epsilon"]) == ("p-analyst", "analyst", "analysis", "police_log",
                                "discrete_laplace", 0.5)
    spent = next(s for s in body["spending"] if s["purpose"] == "analysis")
    cap = REG.purposes["analysis"].budget
    assert cap is not None and spent["cap_epsilon"] == cap.epsilon
    assert spent["epsilon"] == pytest.approx(0.5 * spent["releases"])
    line = store.audit_rows()[-1]
    assert (line.role, line.purpose, json.loads(line.what)["resource"]) == (
        "dpo", "dpo_review", "privacy_ledger")
    for role in ("analyst", "public", "operator", "admin"):
        assert client.get("/api/v1/privacy/ledger", headers=headers[role]).status_code == 403


def test_the_register_is_published(client: TestClient) -> None:
    client.cookies.clear()
    body = client.get("/api/v1/privacy/purposes").json()
    assert {p["id"] for p in body["purposes"]} == set(REG.purposes)
    monitoring = next(p for p in body["purposes"] if p["id"] == "situation_monitoring")
    assert monitoring["regime"] == "directive_2016_680" and monitoring["legal_basis"]
