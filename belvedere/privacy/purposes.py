"""The register of purposes and release policies, as data (``registry.toml`` beside this file).

A *purpose* says why data is processed: its legal regime (GDPR, or Directive (EU) 2016/680 for
law enforcement), legal basis, controller, the datasets it may use, the outputs it may produce,
how long they are kept and, when its releases are noised, its privacy budget per period. A
*policy row* says how one role releases figures for one purpose: exactly, or with a noise
mechanism spending ε (or ρ) per release. Every release of the gate calls :meth:`Registry.authorise`
with the role, the declared purpose, the output and the datasets; a refusal is a
:class:`~belvedere.errors.PolicyDenied` naming the registry rule that refused.

Example:
    >>> reg = registry()
    >>> reg.purposes["situation_monitoring"].regime
    'directive_2016_680'
    >>> reg.authorise("public", "public_information", outputs=("situation",),
    ...               datasets=("police_log",)).mechanism
    'discrete_laplace'
    >>> reg.resolve_purpose("public", None, "situation_monitoring")
    'public_information'
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from belvedere.errors import ConfigError, PolicyDenied

REGISTRY_PATH = Path(__file__).with_name("registry.toml")

REGIMES: dict[str, str] = {
    "gdpr": "Regulation (EU) 2016/679 (GDPR)",
    "directive_2016_680": "Directive (EU) 2016/680 (law enforcement; loi Informatique et "
                          "Libertés, title III)",
}
MECHANISMS = ("none", "discrete_laplace", "discrete_gaussian")
PERIODS = ("day", "month", "year")
_DURATION = re.compile(r"^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?$")


@dataclass(frozen=True, slots=True)
class Controller:
    """The controller of the processing: who decides its purposes and means."""

    id: str
    name: str
    note: str


@dataclass(frozen=True, slots=True)
class RoleEntry:
    """A role as the registry sees it: whether it acts as the controller's agent with exact
    figures, and the purpose its consultations serve when none is declared."""

    id: str
    controller_agent: bool
    default_purpose: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """A feed as stored: its supplier, its regime, its count metrics and (for measurement
    feeds with categories) their closed list."""

    id: str
    label: str
    supplier: str
    regime: str
    counts: tuple[str, ...]
    categories: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class Output:
    """A kind of release; ``noised`` when the gate noises its counts for DP policies."""

    id: str
    label: str
    noised: bool


@dataclass(frozen=True, slots=True)
class Budget:
    """The cap on the privacy loss of one purpose's noised releases per ``period``."""

    epsilon: float
    delta: float
    period: str


@dataclass(frozen=True, slots=True)
class Purpose:
    """Why data is processed, under which rules."""

    id: str
    label: str
    regime: str
    legal_basis: str
    controller: str
    datasets: tuple[str, ...]
    outputs: tuple[str, ...]
    retention: str
    budget: Budget | None


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """How ``role`` releases figures for ``purpose``.

    Attributes:
        datasets, outputs: what the role may use and produce for the purpose (the purpose's
            own lists, or a narrower one given in the row).
        mechanism: ``none`` (exact), ``discrete_laplace`` or ``discrete_gaussian``.
        epsilon: ε per release (discrete Laplace).
        rho, delta: ρ per release (discrete Gaussian, zCDP) and the δ at which its ε is
            accounted in the ledger.
        k, level, bin: optional tightening of the role's policy (threshold, place level, bin).
    """

    role: str
    purpose: str
    datasets: tuple[str, ...]
    outputs: tuple[str, ...]
    mechanism: str
    epsilon: float | None = None
    rho: float | None = None
    delta: float | None = None
    k: int | None = None
    level: str | None = None
    bin: str | None = None
    note: str = ""

    @property
    def noised(self) -> bool:
        """Whether this row's count releases carry noise (and spend budget)."""
        return self.mechanism != "none"


@dataclass(frozen=True, slots=True)
class Registry:
    """The whole register, validated (see :func:`load`)."""

    controller: Controller
    roles: dict[str, RoleEntry]
    datasets: dict[str, Dataset]
    outputs: dict[str, Output]
    purposes: dict[str, Purpose]
    policies: dict[tuple[str, str], PolicyRow]

    def check_purpose(self, purpose: str) -> Purpose:
        """The registered purpose; :class:`PolicyDenied` for an undeclared one."""
        try:
            return self.purposes[purpose]
        except KeyError:
            raise PolicyDenied(f"undeclared purpose {purpose!r}; purposes: "
                               f"{', '.join(self.purposes)}") from None

    def purposes_of(self, role: str) -> list[str]:
        """The purposes ``role`` may declare, in registry order."""
        return [p for (r, p) in self.policies if r == role]

    def authorise(self, role: str, purpose: str, *, outputs: Iterable[str] = (),
                  datasets: Iterable[str] = ()) -> PolicyRow:
        """The policy row under which ``role`` may produce ``outputs`` from ``datasets`` for
        ``purpose``; :class:`PolicyDenied` naming the rule that refuses otherwise."""
        target = self.check_purpose(purpose)
        row = self.policies.get((role, purpose))
        if row is None:
            mine = self.purposes_of(role)
            raise PolicyDenied(
                f"role {role!r} may not process data for purpose {purpose!r} (registry rule: "
                f"no [[policies]] row for {role} × {purpose}; its purposes: "
                f"{', '.join(mine) or 'none'})")
        for output in outputs:
            if output not in target.outputs:
                raise PolicyDenied(
                    f"purpose {purpose!r} does not allow the output {output!r} (registry rule: "
                    f"purposes.{purpose}.outputs = {list(target.outputs)})")
            if output not in row.outputs:
                raise PolicyDenied(
                    f"role {role!r} may not produce {output!r} for purpose {purpose!r} "
                    f"(registry rule: policies[{role} × {purpose}].outputs = "
                    f"{list(row.outputs)})")
        for dataset in datasets:
            if dataset not in target.datasets:
                raise PolicyDenied(
                    f"purpose {purpose!r} does not allow the dataset {dataset!r} (registry "
                    f"rule: purposes.{purpose}.datasets = {list(target.datasets)})")
            if dataset not in row.datasets:
                raise PolicyDenied(
                    f"role {role!r} may not use {dataset!r} for purpose {purpose!r} (registry "
                    f"rule: policies[{role} × {purpose}].datasets = {list(row.datasets)})")
        return row

    def resolve_purpose(self, role: str, declared: str | None, default: str) -> str:
        """The purpose a consultation serves: the one declared; else the route's ``default``
        when ``role`` may hold it; else the role's own default purpose (else ``default``, which
        the gate will then refuse with the reason)."""
        if declared is not None:
            return declared
        if (role, default) in self.policies:
            return default
        entry = self.roles.get(role)
        return entry.default_purpose if entry and entry.default_purpose else default


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"privacy registry: {where} must be a list of names")
    return tuple(value)


def _subset(names: tuple[str, ...], known: Iterable[str], where: str) -> tuple[str, ...]:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"privacy registry: {where} names unknown {unknown}")
    return names


def _budget(raw: dict[str, Any] | None, where: str) -> Budget | None:
    if raw is None:
        return None
    budget = Budget(float(raw["epsilon"]), float(raw.get("delta", 0.0)), str(raw["period"]))
    if budget.period not in PERIODS or budget.epsilon <= 0 or not 0 <= budget.delta < 1:
        raise ConfigError(f"privacy registry: {where}.budget needs epsilon > 0, 0 ≤ delta < 1 "
                          f"and a period among {PERIODS}")
    return budget


def _policy(raw: dict[str, Any], purposes: dict[str, Purpose],
            roles: dict[str, RoleEntry]) -> PolicyRow:
    role, purpose_id = str(raw["role"]), str(raw["purpose"])
    where = f"policies[{role} × {purpose_id}]"
    if role not in roles or purpose_id not in purposes:
        raise ConfigError(f"privacy registry: {where} names an unknown role or purpose")
    purpose = purposes[purpose_id]
    datasets = _subset(_strings(raw["datasets"], f"{where}.datasets"), purpose.datasets,
                       f"{where}.datasets (outside the purpose's)") if "datasets" in raw \
        else purpose.datasets
    outputs = _subset(_strings(raw["outputs"], f"{where}.outputs"), purpose.outputs,
                      f"{where}.outputs (outside the purpose's)") if "outputs" in raw \
        else purpose.outputs
    row = PolicyRow(role=role, purpose=purpose_id, datasets=datasets, outputs=outputs,
                    mechanism=str(raw["mechanism"]), epsilon=raw.get("epsilon"),
                    rho=raw.get("rho"), delta=raw.get("delta"), k=raw.get("k"),
                    level=raw.get("level"), bin=raw.get("bin"), note=str(raw.get("note", "")))
    if row.mechanism not in MECHANISMS:
        raise ConfigError(f"privacy registry: {where}.mechanism is one of {MECHANISMS}")
    if row.mechanism == "discrete_laplace" and not (row.epsilon and row.epsilon > 0):
        raise ConfigError(f"privacy registry: {where} (discrete_laplace) needs epsilon > 0")
    if row.mechanism == "discrete_gaussian" and not (
            row.rho and row.rho > 0 and row.delta and 0 < row.delta < 1):
        raise ConfigError(f"privacy registry: {where} (discrete_gaussian) needs rho > 0 and "
                          "0 < delta < 1")
    if row.noised:
        if purpose.budget is None:
            raise ConfigError(f"privacy registry: {where} is noised but purposes.{purpose_id} "
                              "has no budget")
        if row.mechanism == "discrete_gaussian" and purpose.budget.delta <= 0:
            raise ConfigError(f"privacy registry: {where} (discrete_gaussian) needs a budget "
                              f"with delta > 0 in purposes.{purpose_id}")
    if row.level not in (None, "zone", "city") or row.bin not in (None, "day", "window"):
        raise ConfigError(f"privacy registry: {where} may only tighten level (zone, city) and "
                          "bin (day, window)")
    return row


def load(path: Path = REGISTRY_PATH) -> Registry:
    """Read and validate a registry file (:class:`ConfigError` naming what is wrong)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"privacy registry {path}: {exc}") from exc
    try:
        controller = Controller(**raw["controller"])
        datasets = {
            name: Dataset(id=name, label=d["label"], supplier=d["supplier"], regime=d["regime"],
                          counts=_strings(d["counts"], f"datasets.{name}.counts"),
                          categories=_strings(d.get("categories", []),
                                              f"datasets.{name}.categories"),
                          note=d.get("note", ""))
            for name, d in raw["datasets"].items()}
        outputs = {name: Output(id=name, label=o["label"], noised=bool(o["noised"]))
                   for name, o in raw["outputs"].items()}
        purposes: dict[str, Purpose] = {}
        for name, p in raw["purposes"].items():
            purposes[name] = Purpose(
                id=name, label=p["label"], regime=p["regime"],
                legal_basis=" ".join(p["legal_basis"].split()), controller=p["controller"],
                datasets=_subset(_strings(p["datasets"], f"purposes.{name}.datasets"),
                                 datasets, f"purposes.{name}.datasets"),
                outputs=_subset(_strings(p["outputs"], f"purposes.{name}.outputs"), outputs,
                                f"purposes.{name}.outputs"),
                retention=p["retention"], budget=_budget(p.get("budget"), f"purposes.{name}"))
        roles = {name: RoleEntry(id=name, controller_agent=bool(r["controller_agent"]),
                                 default_purpose=r.get("default_purpose"),
                                 note=r.get("note", ""))
                 for name, r in raw["roles"].items()}
        policies: dict[tuple[str, str], PolicyRow] = {}
        for item in raw["policies"]:
            row = _policy(item, purposes, roles)
            if (row.role, row.purpose) in policies:
                raise ConfigError(f"privacy registry: two policy rows for {row.role} × "
                                  f"{row.purpose}")
            policies[(row.role, row.purpose)] = row
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"privacy registry {path}: missing or malformed entry {exc}") from exc
    for name, d in datasets.items():
        if d.regime not in REGIMES:
            raise ConfigError(f"privacy registry: datasets.{name}.regime is one of {list(REGIMES)}")
    for name, p in purposes.items():
        if p.regime not in REGIMES or p.controller != controller.id:
            raise ConfigError(f"privacy registry: purposes.{name} needs a regime among "
                              f"{list(REGIMES)} and the controller {controller.id!r}")
        if not _DURATION.match(p.retention) or p.retention == "P":
            raise ConfigError(f"privacy registry: purposes.{name}.retention is an ISO 8601 "
                              f"duration (P1Y, P90D…), not {p.retention!r}")
    for name, r in roles.items():
        if r.default_purpose is not None and (name, r.default_purpose) not in policies:
            raise ConfigError(f"privacy registry: roles.{name}.default_purpose "
                              f"{r.default_purpose!r} has no policy row for that role")
    return Registry(controller, roles, datasets, outputs, purposes, policies)


@cache
def registry() -> Registry:
    """The packaged registry, loaded once."""
    return load()


RESOURCE_OUTPUTS: dict[str, str] = {
    "live_stream": "live", "live_situation": "live", "alert": "alerts",
    "daily_brief": "briefing", "users": "accounts", "api_tokens": "accounts",
    "api_token": "accounts", "planned_event": "events",
}
"""The output of an access-log ``resource`` whose name is not itself an output."""


def output_of(resource: str) -> str:
    """The registry output a released ``resource`` (as the access log names it) belongs to:
    ``report:backtest`` → ``report``, ``live_stream`` → ``live``, ``forecast`` → itself."""
    name = resource.split(":", 1)[0]
    return RESOURCE_OUTPUTS.get(name, name)


def describe(reg: Registry | None = None) -> dict[str, Any]:
    """The register as JSON-able data (what ``GET /api/v1/privacy/purposes`` publishes)."""
    reg = reg or registry()
    return {
        "controller": {"id": reg.controller.id, "name": reg.controller.name},
        "regimes": REGIMES,
        "datasets": [{"id": d.id, "label": d.label, "supplier": d.supplier, "regime": d.regime,
                      "counts": list(d.counts)} for d in reg.datasets.values()],
        "outputs": [{"id": o.id, "label": o.label, "noised": o.noised}
                    for o in reg.outputs.values()],
        "purposes": [{"id": p.id, "label": p.label, "regime": p.regime,
                      "legal_basis": p.legal_basis, "controller": p.controller,
                      "datasets": list(p.datasets), "outputs": list(p.outputs),
                      "retention": p.retention,
                      "budget": None if p.budget is None else {
                          "epsilon": p.budget.epsilon, "delta": p.budget.delta,
                          "period": p.budget.period}}
                     for p in reg.purposes.values()],
        "policies": [{"role": r.role, "purpose": r.purpose, "mechanism": r.mechanism,
                      "epsilon": r.epsilon, "rho": r.rho, "delta": r.delta,
                      "datasets": list(r.datasets), "outputs": list(r.outputs)}
                     for r in reg.policies.values()],
    }


def policy_table(reg: Registry | None = None) -> str:
    """The role × purpose table of docs/privacy.md, as the registry makes it (a test compares)."""
    reg = reg or registry()
    lines = ["| role | purpose | regime | mechanism | ε per release | cap (ε, δ, period) | "
             "datasets | outputs |", "|---|---|---|---|---|---|---|---|"]
    for row in reg.policies.values():
        purpose = reg.purposes[row.purpose]
        cap = (f"{purpose.budget.epsilon:g}, {purpose.budget.delta:g}, {purpose.budget.period}"
               if purpose.budget and row.noised else "—")
        eps = f"{row.epsilon:g}" if row.epsilon else (f"ρ = {row.rho:g}" if row.rho else "—")
        datasets = "all of the purpose's" if row.datasets == purpose.datasets else \
            ", ".join(row.datasets) or "none"
        outputs = "all of the purpose's" if row.outputs == purpose.outputs else \
            ", ".join(row.outputs)
        lines.append(f"| {row.role} | {row.purpose} | {purpose.regime} | {row.mechanism} | "
                     f"{eps} | {cap} | {datasets} | {outputs} |")
    return "\n".join(lines)
