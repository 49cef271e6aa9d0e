"""Every data-access path goes through the logging point (AI Act Art. 12; DESIGN.md §3).

A scan of the code's syntax trees:

1. In the human-facing layers (``api/``, ``web/``, ``briefings/``, ``cli.py``), a store is
   never asked for data directly: its methods are not called (but for the few listed in
   :data:`METHOD_EXCEPTIONS`, each with its reason), and a function that hands the store to
   code outside ``belvedere.privacy`` (a model fitting on incidents, an ingest) records the
   access itself with an auditing privacy function — or every function calling it does.
2. In ``belvedere.privacy``, a function that reads data from the store (:data:`DATA_READS`)
   records the access in the log (calls ``audit.record``, directly or through another privacy
   function that does), unless listed in :data:`PRIVACY_EXCEPTIONS` with its reason.

The import-linter contract already keeps ``store`` implementations, DuckDB and Ibis out of the
human-facing layers; this scan closes the gap of a store object passed in as a parameter, or
opened by URL whatever the backend (``open_store(...)``, ``with opened(...) as db``).
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import belvedere

PACKAGE = Path(belvedere.__file__).parent
HUMAN = ("belvedere.api", "belvedere.web", "belvedere.briefings", "belvedere.cli")
STORE_TYPES = re.compile(r"\b(Store|StoreDep|DuckDBStore|PostgresStore)\b")
BACKEND_CLASSES = frozenset({"DuckDBStore", "PostgresStore"})
"""The backends' classes: a call of one is a store (only ``belvedere/store/`` makes them)."""
CONTEXTS = frozenset({"Iterator", "Generator", "AsyncIterator", "AsyncGenerator",
                      "ContextManager", "AbstractContextManager"})
"""Return annotations of a context manager (``@contextmanager``) whose ``with`` gives what
they wrap."""
LOGGING_POINT = "belvedere.privacy.audit.record"

DATA_READS = frozenset({
    "situation", "planned_events", "incident_points", "measurement_points", "hourly_figures",
    "quarantined", "audit_rows", "alerts", "alert", "list_users", "api_tokens", "batches",
    "batch_source_ids", "count", "counts_by_source",
})
"""Store methods that return records, figures, accounts or log lines."""

METHOD_EXCEPTIONS: dict[tuple[str | None, str], str] = {
    (None, "close"): "closes the connection; reads nothing",
    (None, "data_period"): "metadata: the first and last time the store holds, no figure (the "
                           "same that /health publishes through privacy.release.store_status)",
    ("belvedere.cli.serving.demo", "get_user"): "whether a demo account exists before creating it; "
                                        "nothing is shown",
}
"""Store methods the human-facing layers may call: (function or any, method) → why."""

INFRASTRUCTURE: dict[str, str] = {
    "belvedere.live.service.LiveService.from_settings":
        "wires live ingestion; what it collects reaches people only through "
        "belvedere.privacy.live, which records every stream and snapshot",
    "belvedere.live.service.staging_folder": "a folder path beside the store; reads no data",
    "belvedere.live.follow.StoreFollower":
        "feeds a web worker's live hub with the batches other processes committed; what it "
        "holds reaches people only through belvedere.privacy.live, which records every stream "
        "and snapshot",
}
"""Non-privacy code the human-facing layers may hand a store without recording: → why."""

PRIVACY_EXCEPTIONS: dict[str, str] = {
    "belvedere.privacy.audit._sign": "hashes the lines to sign a tree head; releases nothing",
    "belvedere.privacy.audit.verify": "recomputes hashes; reports line numbers, no content",
    "belvedere.privacy.access_log.consistency": "a consistency proof: hashes only, public",
}
"""Privacy functions that read data without recording it: → why."""


@dataclass
class Module:
    """One module's functions, imports and calls, as the scan needs them."""

    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, source: str) -> Module:
        module = cls(name, ast.parse(source))
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions.setdefault(node.name, node)
        return module

    def resolve(self, func: ast.expr) -> str:
        """The qualified name a call's function refers to (best effort)."""
        if isinstance(func, ast.Name):
            if func.id in self.imports:
                return self.imports[func.id]
            return f"{self.name}.{func.id}"
        if isinstance(func, ast.Attribute):
            return f"{self.resolve(func.value)}.{func.attr}"
        return ast.unparse(func)

    def store_names(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        """Names bound to a store in ``fn``: annotated parameters, and what a function
        returning a store gives (``db = open_store(...)``, ``with opened(...) as db``, a
        backend's class, the store element of a returned tuple)."""
        args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        names = {a.arg for a in args
                 if a.annotation is not None and STORE_TYPES.search(ast.unparse(a.annotation))}
        bound: list[tuple[ast.expr, ast.Call, bool]] = []  # (target, call, entered by with)
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                bound.extend((target, node.value, False) for target in node.targets)
            elif isinstance(node, ast.With | ast.AsyncWith):
                bound.extend((item.optional_vars, item.context_expr, True) for item in node.items
                             if item.optional_vars is not None
                             and isinstance(item.context_expr, ast.Call))
        for target, call, entered in bound:
            if isinstance(target, ast.Name) and self._returns_store(call.func, None, entered):
                names.add(target.id)
            elif isinstance(target, ast.Tuple):
                for i, element in enumerate(target.elts):
                    if isinstance(element, ast.Name) and self._returns_store(call.func, i,
                                                                             entered):
                        names.add(element.id)
        return names

    def _returns_store(self, func: ast.expr, index: int | None, entered: bool) -> bool:
        """Whether calling ``func`` gives a store (element ``index`` of a tuple; ``entered``:
        what ``with`` gives) — a backend's class, or a function of this module or of the
        package annotated so."""
        if isinstance(func, ast.Name) and func.id in BACKEND_CLASSES:
            return index is None and not entered
        local = self.functions.get(func.id) if isinstance(func, ast.Name) else None
        if local is None:
            local = _package_functions().get(self.resolve(func))
        if local is None or local.returns is None:
            return False
        returns = local.returns
        if entered:  # a @contextmanager's Iterator[X] (or a ContextManager[X]) gives X
            if not (isinstance(returns, ast.Subscript)
                    and ast.unparse(returns.value).rsplit(".", 1)[-1] in CONTEXTS):
                return False
            returns = (returns.slice.elts[0] if isinstance(returns.slice, ast.Tuple)
                       else returns.slice)
        if index is not None:
            if not (isinstance(returns, ast.Subscript) and isinstance(returns.slice, ast.Tuple)
                    and index < len(returns.slice.elts)):
                return False
            returns = returns.slice.elts[index]
        return bool(STORE_TYPES.fullmatch(ast.unparse(returns)))


def _is_store(expr: ast.expr, names: set[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in names
    return isinstance(expr, ast.Attribute) and expr.attr == "store"  # request.app.state.store


WRAPPERS = frozenset({"starlette.concurrency.run_in_threadpool", "anyio.to_thread.run_sync",
                      "functools.partial"})
"""Calls that call their first argument with the others: scanned as that call."""


def _calls(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Call)]


def _unwrapped(m: Module, call: ast.Call) -> ast.Call:
    """``run_in_threadpool(f, a, b=c)`` as ``f(a, b=c)``."""
    if m.resolve(call.func) in WRAPPERS and call.args:
        return ast.Call(func=call.args[0], args=call.args[1:], keywords=call.keywords,
                        lineno=call.lineno, col_offset=call.col_offset)
    return call


@functools.cache
def _package_functions() -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of the package by qualified name (to see which return a store)."""
    return {f"{m.name}.{name}": fn for m in _package_modules(("belvedere",))
            for name, fn in m.functions.items()}


@functools.cache
def _package_modules(prefixes: tuple[str, ...]) -> list[Module]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name.startswith(prefixes):
            out.append(Module.parse(name, path.read_text()))
    return out


def auditing_functions(modules: list[Module]) -> set[str]:
    """Qualified names of the functions that call the logging point, directly or through
    another function of ``modules`` that does (also when handed to ``run_in_threadpool``)."""
    callees = {f"{m.name}.{name}": {m.resolve(_unwrapped(m, c).func) for c in _calls(fn)}
               for m in modules for name, fn in m.functions.items()}
    found = {LOGGING_POINT}
    while True:
        more = {f for f, called in callees.items() if f not in found and called & found}
        if not more:
            return found
        found |= more


def privacy_violations(modules: list[Module], auditing: set[str]) -> list[str]:
    """Privacy functions that read data from a store and record nothing."""
    out = []
    for m in modules:
        for name, fn in m.functions.items():
            qualified = f"{m.name}.{name}"
            if qualified in auditing or qualified in PRIVACY_EXCEPTIONS:
                continue
            stores = m.store_names(fn)
            for call in _calls(fn):
                if (isinstance(call.func, ast.Attribute) and call.func.attr in DATA_READS
                        and _is_store(call.func.value, stores)):
                    out.append(f"{qualified} (line {call.lineno}) reads store.{call.func.attr} "
                               "and records nothing")
    return out


def human_violations(m: Module, auditing: set[str]) -> list[str]:
    """Store accesses of one human-facing module that bypass the logging point."""
    out: list[str] = []
    reads: dict[str, list[str]] = {}  # function → data handed outside privacy
    callers: dict[str, set[str]] = {name: set() for name in m.functions}
    audits: set[str] = set()
    for name, fn in m.functions.items():
        stores = m.store_names(fn)
        for call in [_unwrapped(m, c) for c in _calls(fn)]:
            target = m.resolve(call.func)
            if target in auditing:
                audits.add(name)
            if isinstance(call.func, ast.Name) and call.func.id in m.functions:
                callers[call.func.id].add(name)
            if isinstance(call.func, ast.Attribute) and _is_store(call.func.value, stores):
                method = call.func.attr
                if ((None, method) not in METHOD_EXCEPTIONS
                        and (f"{m.name}.{name}", method) not in METHOD_EXCEPTIONS):
                    out.append(f"{m.name}.{name} (line {call.lineno}) calls store.{method}(): "
                               "read through a belvedere.privacy function instead")
                continue
            handed = [*call.args, *(k.value for k in call.keywords)]
            if not any(_is_store(a, stores) for a in handed):
                continue
            if target.startswith(("belvedere.privacy.", *(f"{h}." for h in HUMAN))):
                continue  # the gate, or human-facing code scanned on its own
            if target in INFRASTRUCTURE:
                continue
            reads.setdefault(name, []).append(f"{target} (line {call.lineno})")

    def covered(name: str, seen: frozenset[str] = frozenset()) -> bool:
        """Recorded by ``name`` itself, or by every function of the module calling it."""
        if name in audits:
            return True
        up = callers[name] - seen
        return bool(up) and all(covered(c, seen | {name}) for c in up)

    for name, targets in reads.items():
        if not covered(name):
            out.append(f"{m.name}.{name} hands the store to {', '.join(targets)} and no "
                       "function on its way records the access (audit.record)")
    return out


def test_every_data_access_in_the_human_facing_layers_is_recorded() -> None:
    # Recording may happen below the human-facing layer too (the dossier's builder records
    # its generation through the release gate): what records is looked for everywhere.
    auditing = auditing_functions(_package_modules(("belvedere",)))
    human = _package_modules(HUMAN)
    assert {m.name for m in human} >= {"belvedere.cli", "belvedere.api.routes.situation",
                                       "belvedere.briefings.event_brief"}
    # The stores the CLI opens by URL (``with opened(...) as db``) are seen, whatever backend.
    seen = {f"{m.name}.{n}" for m in human for n, fn in m.functions.items() if m.store_names(fn)}
    assert {"belvedere.cli.feeds.ingest", "belvedere.cli.access_log.audit_verify",
            "belvedere.cli.picture.situation"} <= seen
    violations = [v for m in human for v in human_violations(m, auditing)]
    assert violations == [], "\n".join(violations)


def test_every_read_inside_the_privacy_layer_is_recorded() -> None:
    modules = _package_modules(("belvedere.privacy",))
    auditing = auditing_functions(modules)
    # The release gate's doors are found to record (through audit.record or record_release).
    assert {"belvedere.privacy.release.release", "belvedere.privacy.release.record_release",
            "belvedere.privacy.quarantine.review_quarantine",
            "belvedere.privacy.access_log.read_lines"} <= auditing
    assert privacy_violations(modules, auditing) == []
    # Every exception still names a function that exists.
    names = {f"{m.name}.{f}" for m in modules for f in m.functions}
    assert set(PRIVACY_EXCEPTIONS) <= names


SAMPLE = '''
from belvedere.cli.context import opened
from belvedere.models.data import load_event_data
from belvedere.privacy.release import record_release, release
from belvedere.store.factory import open_store
from starlette.concurrency import run_in_threadpool

def direct(store: Store, q):
    return store.situation(q)

def through_the_gate(store: StoreDep, actor, q):
    return release(store, q, actor, "analysis")

def model_unrecorded(store: Store):
    return load_event_data(store)

def model_recorded(store: Store, actor):
    data = load_event_data(store)
    record_release(store, actor, "analysis", what={"resource": "forecast"}, rows=1)
    return data

async def in_a_thread(store: Store, actor):
    data = await run_in_threadpool(load_event_data, store)
    await run_in_threadpool(record_release, store, actor, "analysis", what={}, rows=1)
    return data

async def in_a_thread_unrecorded(store: Store):
    return await run_in_threadpool(load_event_data, store)

def _helper(db: Store):
    return load_event_data(db)

def command(actor):
    db = open_store("x.duckdb")
    data = _helper(db)
    record_release(db, actor, "analysis", what={"resource": "forecast"}, rows=1)
    db.close()
    return data

def command_unrecorded(url):
    with opened(url) as db:
        return db.incident_points()
'''


def test_the_scan_finds_a_direct_read_and_an_unrecorded_model_path() -> None:
    auditing = auditing_functions(_package_modules(("belvedere.privacy",)))
    found = human_violations(Module.parse("belvedere.api.routes.sample", SAMPLE), auditing)
    assert [v.split(" ")[0] for v in found] == [
        "belvedere.api.routes.sample.direct",
        "belvedere.api.routes.sample.command_unrecorded",
        "belvedere.api.routes.sample.model_unrecorded",
        "belvedere.api.routes.sample.in_a_thread_unrecorded"]
    assert "store.situation()" in found[0] and "store.incident_points()" in found[1]
    assert "load_event_data" in found[2]
    # In the privacy layer, a read with no record is caught too.
    privacy = Module.parse("belvedere.privacy.sample", SAMPLE)
    assert privacy_violations([privacy], auditing_functions([privacy])) == [
        "belvedere.privacy.sample.direct (line 9) reads store.situation and records nothing",
        "belvedere.privacy.sample.command_unrecorded (line 42) reads store.incident_points and "
        "records nothing"]


def test_every_recorded_action_is_one_of_the_directives_operations() -> None:
    from belvedere.privacy.audit import ACTIONS

    found: dict[str, str] = {}
    for m in _package_modules(("belvedere",)):
        for call in (n for n in ast.walk(m.tree) if isinstance(n, ast.Call)):
            target = m.resolve(call.func)
            if target == LOGGING_POINT or (m.name == "belvedere.privacy.audit"
                                           and target.endswith(".record")):
                action = next((k.value for k in call.keywords if k.arg == "action"), None)
            elif target == "belvedere.privacy.operations.record_operation":
                action = call.args[3] if len(call.args) > 3 else None
            else:
                continue
            if isinstance(action, ast.Constant):
                found[f"{m.name}:{call.lineno}"] = action.value
    assert len(found) >= 12  # the scan sees the release gate's lines
    assert {where: a for where, a in found.items() if a not in ACTIONS} == {}
