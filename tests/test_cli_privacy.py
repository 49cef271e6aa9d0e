"""The command line declares a purpose the registry allows for every release, and its privacy
commands (``belvedere privacy purposes · ledger · demo``) work on a real store.

The purpose check is a scan of the syntax trees of ``belvedere/cli/``, not of its runs: for every
call of a release-gate function it finds the role (``cli_actor("…")``, or a parameter's
default) and the purpose (a literal, or a parameter's default) and asks the registry whether
that role may produce that output for that purpose. A value computed at run time would not be
resolved: the scan then fails, asking for a literal or a parameter. It also checks that the CLI
reads nothing from the store but metadata: figures come through the gate.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere import cli
from belvedere.cli import app
from belvedere.privacy.dp import SeededSampler, use_sampler
from belvedere.privacy.purposes import output_of, registry
from belvedere.store.factory import open_store
from tests.privacy.populate import populate

CLI = sorted(Path(cli.__file__).parent.glob("*.py"))
"""Every module of the command line."""


def _trees() -> list[ast.Module]:
    return [ast.parse(path.read_text(encoding="utf-8")) for path in CLI]
REG = registry()
# Gate function → (index of the actor argument, index of the purpose argument, output).
GATES: dict[str, tuple[int, int, str | None]] = {
    "release": (2, 3, "situation"),
    "release_events": (3, 4, "events"),
    "release_alerts": (1, 2, "alerts"),
    "release_ledger": (1, 2, "privacy_ledger"),
    "record_release": (1, 2, None),  # the output is the resource named in what=
    "render_event_brief": (-1, -1, "briefing"),  # keywords only
    "render_daily_brief": (-1, -1, "briefing"),
    "record_collection": (1, 2, None),  # collections and operations: role × purpose only
    "record_operation": (1, 2, None),
}
METADATA = {"close", "data_period", "get_user"}
"""Store methods the CLI may call directly: no figure about the city."""


def _default(func: ast.FunctionDef, name: str) -> ast.expr | None:
    """The default value of parameter ``name`` of ``func``."""
    positional = func.args.args
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(func.args.defaults):]],
                        func.args.defaults, strict=True))
    defaults.update({a.arg: d for a, d in zip(func.args.kwonlyargs, func.args.kw_defaults,
                                              strict=True) if d is not None})
    return defaults.get(name)


def _resolve(expr: ast.expr | None, func: ast.FunctionDef) -> str:
    """A string the expression has at run time, statically: a literal, a parameter's default,
    a local assigned once, or the role of ``cli_actor(...)``."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
            expr.func.id == "cli_actor":
        return _resolve(expr.args[0], func)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
            expr.func.id == "purpose_for":
        # The register's own resolution, with the parameters' defaults (None: not declared).
        declared = expr.args[1]
        unset = isinstance(declared, ast.Name) and isinstance(_default(func, declared.id),
                                                              ast.Constant) \
            and _default(func, declared.id).value is None  # type: ignore[union-attr]
        return REG.resolve_purpose(_resolve(expr.args[0], func),
                                   None if unset else _resolve(declared, func),
                                   _resolve(expr.args[2], func))
    if isinstance(expr, ast.Name):
        default = _default(func, expr.id)
        if default is not None:
            return _resolve(default, func)
        assigned = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)]
        if len(assigned) == 1:
            return _resolve(assigned[0], func)
    raise AssertionError(f"{func.name}: cannot resolve {ast.unparse(expr) if expr else None!r} "
                         "statically: give a literal or a parameter with a default")


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    keyword = next((k.value for k in call.keywords if k.arg == name), None)
    if keyword is not None:
        return keyword
    return call.args[index] if 0 <= index < len(call.args) else None


def gate_calls() -> list[tuple[str, str, str, str | None]]:
    """``(function, role, purpose, output)`` for every gate call of the command line."""
    found = []
    for func in (f for tree in _trees() for f in ast.walk(tree)):
        if not isinstance(func, ast.FunctionDef):
            continue
        for call in ast.walk(func):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id in GATES):
                continue
            actor_at, purpose_at, output = GATES[call.func.id]
            actor = _argument(call, actor_at, "actor") or _argument(call, actor_at, "by")
            role = _resolve(actor, func)
            purpose = _resolve(_argument(call, purpose_at, "purpose"), func)
            if call.func.id == "record_release":
                what = _argument(call, -1, "what")
                assert isinstance(what, ast.Dict), f"{func.name}: record_release(what=…) literal"
                resource = next(v for k, v in zip(what.keys, what.values, strict=True)
                                if isinstance(k, ast.Constant) and k.value == "resource")
                output = output_of(_resolve(resource, func))
            found.append((func.name, role, purpose, output))
    return found


def test_every_release_of_the_cli_declares_a_purpose_the_registry_allows() -> None:
    calls = gate_calls()
    assert len(calls) >= 15 and {c[0] for c in calls} >= {
        "situation", "forecast", "alerts", "privacy_ledger", "privacy_demo", "run_backtest"}
    for function, role, purpose, output in calls:
        try:
            REG.authorise(role, purpose, outputs=(output,) if output else ())
        except Exception as exc:
            raise AssertionError(f"belvedere/cli/ {function}: {exc}") from exc


def test_the_cli_reads_only_metadata_from_the_store_directly() -> None:
    called = {node.func.attr for tree in _trees() for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "db"}
    assert called <= METADATA, f"direct store reads in the CLI: {sorted(called - METADATA)}"


def test_the_scan_resolves_and_refuses() -> None:
    func = ast.parse('def f(role: str = "public", purpose: str = "analysis"):\n'
                     '    actor = cli_actor(role)\n    release(db, q, actor, purpose)\n'
                     '    release(db, q, cli_actor(x()), purpose)\n').body[0]
    assert isinstance(func, ast.FunctionDef)
    first, second = [n for n in ast.walk(func) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id == "release"]
    assert _resolve(_argument(first, 2, "actor"), func) == "public"
    assert _resolve(_argument(first, 3, "purpose"), func) == "analysis"
    with pytest.raises(AssertionError, match="cannot resolve"):
        _resolve(_argument(second, 2, "actor"), func)
    with pytest.raises(Exception, match="no \\[\\[policies\\]\\] row for public × analysis"):
        REG.authorise("public", "analysis", outputs=("situation",))


@pytest.fixture
def populated_url(store_url: str) -> str:
    """The URL of a populated store of the tests' backend."""
    db = open_store(store_url)
    populate(db)
    db.close()
    return store_url


def test_privacy_demo_shows_exact_and_noised_figures_and_the_ledger_line(
        populated_url: str) -> None:
    runner = CliRunner()
    with use_sampler(SeededSampler(11)):
        result = runner.invoke(app, ["privacy", "demo", "--store", populated_url,
                                     "--days", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "operator (exact)" in out and "public (noised, k = 11)" in out and "< k" in out
    assert "discrete_laplace ε = 0.5" in out and "ledger line #1" in out
    db = open_store(populated_url)
    rows = db.ledger_rows()
    lines = db.audit_rows()
    db.close()
    assert [(r.role, r.purpose, r.dataset, r.epsilon) for r in rows] == [
        ("public", "public_information", "police_log", 0.5)]
    assert [(a.role, a.purpose) for a in lines] == [
        ("operator", "situation_monitoring"), ("public", "public_information"),
        ("dpo", "dpo_review")]
    # The DPO's ledger command shows it, with the spending against the cap (and is audited).
    shown = runner.invoke(app, ["privacy", "ledger", "--store", populated_url],
                          env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    spending = [line for line in shown.output.splitlines()
                if line.startswith("│ public_information │ day:")]
    assert len(spending) == 1
    cells = [c.strip() for c in spending[0].strip("│").split("│")]
    assert cells[2:5] == ["1", "0.5", "20"]  # one release, ε spent, ε cap


def test_privacy_purposes_prints_the_register() -> None:
    result = CliRunner().invoke(app, ["privacy", "purposes"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for purpose in REG.purposes:
        assert purpose in result.output
    assert "directive_2016_680" in result.output and "discrete_laplace" in result.output

