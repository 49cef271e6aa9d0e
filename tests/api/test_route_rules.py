"""Every route of the app declares who may call it, and the rule holds over HTTP.

The routes are enumerated from ``create_app(...)`` itself, so a route added later (alerts,
push, live stream…) is checked as soon as it is wired: it must carry a role rule
(``Annotated[Actor, allow(...)]``) or the explicit ``PUBLIC`` marker, or the test fails. For each
method of each route: anonymous → 401 (unless public), every role outside the rule → 403,
every role inside → neither 401 nor 403. Path parameters get dummy values; responses are read as
streams and closed after the status line, so a Server-Sent-Events route cannot hang the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from belvedere.api.deps import CurrentActor, RoleRule, allow, public_route
from belvedere.api.main import create_app
from belvedere.privacy.policy import POLICIES
from belvedere.privacy.release import Actor
from belvedere.privacy.tokens import create_api_token
from belvedere.privacy.users import add_user, open_session
from belvedere.store.factory import open_store
from tests.backends import discard_store, new_store_url

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROLES = tuple(POLICIES)
PUBLIC = "public route"
DUMMY = {"int": "1", "float": "1.5", "uuid": "00000000-0000-0000-0000-000000000001"}


def route_contexts(app: FastAPI) -> list[Any]:
    """Every route the app answers, flattened (FastAPI ≥ 0.160 keeps included routers lazy)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def rule_of(route: Any) -> frozenset[str] | str | None:
    """The roles a route admits (every role rule in its dependency tree must pass), ``PUBLIC``
    for a route marked public, ``None`` when it declares neither."""
    rules: list[frozenset[str]] = []
    public = False
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleRule):
            rules.append(dependant.call.roles)
        public = public or dependant.call is public_route
        stack.extend(dependant.dependencies)
    if rules:
        return frozenset.intersection(*rules)
    return PUBLIC if public else None


def framework_paths(app: FastAPI) -> set[str]:
    """The OpenAPI description and its viewers: public by nature, not belvedere's routes."""
    return {p for p in (app.openapi_url, app.docs_url, app.redoc_url,
                        app.swagger_ui_oauth2_redirect_url) if p}


def _app() -> FastAPI:
    db = open_store(":memory:")
    app = create_app(db)
    db.close()
    return app


APP = _app()
API_ROUTES = [(method, r) for r in route_contexts(APP) if isinstance(r.original_route, APIRoute)
              for method in sorted(r.methods)]
OTHER_ROUTES = [r for r in route_contexts(APP) if not isinstance(r.original_route, APIRoute)]


def _id(item: Any) -> str:
    if isinstance(item, tuple):
        return f"{item[0]} {item[1].path}"
    return str(getattr(item, "path", item))


def url_of(route: Any) -> str:
    """The route's path with a dummy value in each parameter."""
    values = {name: DUMMY.get(type(conv).__name__.removesuffix("Convertor").lower(), "dummy")
              for name, conv in route.param_convertors.items()}
    return str(route.path_format).format(**values)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = new_store_url(tmp_path_factory.mktemp("rules"), "rules")
    db = open_store(url)
    app = create_app(db)
    with TestClient(app) as c:
        yield c
    db.close()
    discard_store(url)


@pytest.fixture(scope="module")
def credentials(client: TestClient) -> dict[str, dict[str, str]]:
    """Role → ``Authorization`` header: a session for each people's role, an API token for
    machines (Bearer requests need no CSRF header, so a refusal is the rule's)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    headers = {}
    for role in ROLES:
        if role == "machine":
            token, _ = create_api_token(store, "rules-bot", by=Actor("test", "admin"))
        else:
            add_user(store, f"rules-{role}", "rules-password-1", role=role)
            token = open_session(store, Actor(f"rules-{role}", role))
        headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


def status(client: TestClient, method: str, url: str, headers: dict[str, str]) -> int:
    """The status of one call, without reading the body (a live stream would never end)."""
    with client.stream(method, url, headers=headers) as response:
        return response.status_code


@pytest.mark.parametrize("item", [*API_ROUTES, *OTHER_ROUTES], ids=_id)
def test_every_route_declares_a_role_rule_or_is_marked_public(item: Any) -> None:
    if isinstance(item, tuple):
        rule = rule_of(item[1])
        assert rule is not None, (
            f"{_id(item)} declares no role rule: use Annotated[Actor, allow(...)] or, for a "
            "route open to anonymous users, dependencies=[PUBLIC]")
        assert rule == PUBLIC or rule, f"{_id(item)}: its role rules admit nobody"
    elif isinstance(item.original_route, Mount):
        # Only the dashboard's static files (scripts, styles, the vendored map) are mounted.
        assert isinstance(item.original_route.app, StaticFiles), item.path
        assert item.path == "/static"
    else:
        assert isinstance(item.original_route, Route) and item.path in framework_paths(APP), (
            f"{_id(item)} is a bare Starlette route: declare it on an APIRouter with a rule")


@pytest.mark.parametrize(("method", "route"), API_ROUTES, ids=_id)
def test_the_rule_holds_for_anonymous_users_and_every_role(
        method: str, route: Any, client: TestClient,
        credentials: dict[str, dict[str, str]]) -> None:
    rule = rule_of(route)
    url = url_of(route)
    client.cookies.clear()
    anonymous = status(client, method, url, {})
    if rule == PUBLIC:
        assert anonymous not in (401, 403), f"{method} {url} is public but answered {anonymous}"
        return
    assert isinstance(rule, frozenset)
    assert anonymous == 401, f"{method} {url} answered {anonymous} to an anonymous user"
    got = {role: status(client, method, url, credentials[role]) for role in ROLES}
    outside = {role: code for role, code in got.items() if role not in rule}
    inside = {role: code for role, code in got.items() if role in rule}
    assert all(code == 403 for code in outside.values()), outside
    assert all(code not in (401, 403) for code in inside.values()), inside


def _docs_rules() -> dict[tuple[str, str], str]:
    """``(METHOD, path) → roles cell`` of docs/api.md's route table."""
    rows = re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| ([^|]+) \|",
                      (DOCS / "api.md").read_text(), flags=re.MULTILINE)
    return {(m, p): roles.strip() for m, p, roles in rows}


def test_docs_api_table_gives_each_route_the_roles_of_its_rule() -> None:
    documented = _docs_rules()
    for method, route in API_ROUTES:
        if not route.include_in_schema:
            continue  # the dashboard page
        cell = documented.get((method, route.path))
        assert cell is not None, f"{method} {route.path} is missing from docs/api.md's table"
        rule = rule_of(route)
        if rule == PUBLIC:
            assert cell == "anyone", f"{method} {route.path}: public, the docs say {cell!r}"
        else:
            assert isinstance(rule, frozenset)
            listed = {r.strip() for r in cell.split(",")}
            assert listed == rule, f"{method} {route.path}: docs {sorted(listed)}, " \
                                   f"rule {sorted(rule)}"


def test_a_route_without_a_rule_is_caught_and_a_rule_is_found() -> None:
    router = APIRouter()

    @router.get("/bare")
    def bare(actor: CurrentActor) -> str:
        return actor.username

    @router.get("/ruled")
    def ruled(actor: Annotated[Actor, allow("dpo", "admin")]) -> str:
        return actor.username

    app = FastAPI()
    app.include_router(router, prefix="/x")
    found = {r.path: rule_of(r) for r in route_contexts(app)
             if isinstance(r.original_route, APIRoute)}
    assert found == {"/x/bare": None, "/x/ruled": frozenset({"dpo", "admin"})}


def roles_matrix(routes: list[tuple[str, Any]]) -> str:
    """The roles × routes table of docs/security.md, as the rules in the code make it."""
    lines = ["| route | anonymous | " + " | ".join(ROLES) + " |",
             "|---|" + "---|" * (len(ROLES) + 1)]
    for method, route in routes:
        rule = rule_of(route)
        admitted = set(ROLES) if rule == PUBLIC else set(rule or ())
        marks = ["✓" if rule == PUBLIC else "·"] + ["✓" if r in admitted else "·" for r in ROLES]
        lines.append(f"| {method} `{route.path}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_security_docs_show_the_roles_matrix_of_the_code() -> None:
    text = (DOCS / "security.md").read_text()
    found = re.search(r"<!-- roles-matrix -->\n(.*?)\n<!-- /roles-matrix -->", text, re.DOTALL)
    assert found, "docs/security.md lost its <!-- roles-matrix --> block"
    expected = roles_matrix(API_ROUTES)
    assert found.group(1) == expected, (
        "docs/security.md's roles × routes table differs from the rules in the code; "
        "replace it with:\n" + expected)
