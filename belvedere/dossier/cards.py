"""Model cards and the register of algorithms.

A **model card** (Mitchell et al. 2019, "Model cards for model reporting") for every
forecaster of :func:`belvedere.models.registry.forecasters`, the event impact model and the
anomaly detector: what it is for and not for, the data it learns from, its features (never an
attribute of residents), its parameters as the code sets them, its accuracy as measured by the
project's benchmarks (figures copied with their source and date into ``content.toml``), its
limits and the feedback-loop guard.

The **register of algorithms** follows the fields of Etalab's inventory of public algorithms
(administration, purpose, how and when the algorithm takes part in the decision, level of
automation, legal basis, data and their sources, type of algorithm, operations) for the four
main algorithms — forecast, event anticipation, anomaly detection, release gate — with their
rules, data, parameters and weights read from the code.
"""

from __future__ import annotations

import inspect
from typing import Any

from belvedere import __version__
from belvedere.dossier.content import TO_COMPLETE, Context
from belvedere.models.anomalies import FEEDS, AnomalyDetector
from belvedere.models.base import PATROL
from belvedere.models.data import CROSS_SOURCE_METRICS, load_event_data
from belvedere.models.event_impact import EventImpactModel
from belvedere.models.registry import forecasters
from belvedere.privacy.policy import ALWAYS_THRESHOLDED, POLICIES

RESIDENT_ATTRIBUTES = ("population", "income", "unemployment", "wage", "ethnicity", "origin",
                       "age", "nationality", "religion")
"""Words no feature of a model may carry (the dossier states it; a test checks it)."""

FEATURES: dict[str, list[str]] = {
    "naive": ["incident count per cell over the previous 365 days"],
    "recent": ["incident count per cell over the previous 28 days"],
    "kde": ["incident counts per cell, smoothed over the cell's H3 k-rings"],
    "prospective": ["distance (H3 rings) to each recent incident and how many weeks ago it "
                    "happened"],
    "etas": ["per-cell background rate", "time since each past incident in the cell "
             "(exponential triggering)"],
    "boosted": ["lagged incident counts of the cell and of its rings 1 and 2 (lags 1, 2, 4, "
                "13, 52 windows; 4- and 52-window aggregates)",
                "counts of the most frequent categories over the last 4 and 52 windows",
                "other feeds' aggregate values around the cell (crowd counts, boardings, "
                "emergency arrivals, camera counts) over the last 1 and 4 windows",
                "planned events within 4 rings, weighted by expected attendance and distance",
                "calendar: week of year, month, day of week, public holidays",
                "windows since the cell's last incident"],
    "event_impact": ["the feed's count per cell and hour in matched control periods",
                     "effects of analogous past events per 1,000 attendees by distance ring "
                     "and hour", "the planned event's kind, venue, times and attendance"],
    "anomalies": ["the feed's count per place and hour in the six previous weeks (same hour "
                  "of the week, event weeks left out)", "expected effect of nearby planned "
                  "events", "the last 1–3 hours observed"],
}
"""The features of each model, in words (the code's feature builders are the reference)."""


def _params(model: Any) -> dict[str, Any]:
    """A model's parameters as JSON-able data (an ensemble's members by name, recursively)."""
    params = model.get_params() if hasattr(model, "get_params") else dict(vars(model))
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key.endswith("_"):
            continue
        if isinstance(value, dict) and all(hasattr(v, "get_params") for v in value.values()):
            out[key] = {n: {"model": type(v).__name__, **_params(v)} for n, v in value.items()}
        elif isinstance(value, tuple):
            out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = repr(value)
    return out


def _benchmark(ctx: Context, key: str, row: str | None = None) -> dict[str, Any]:
    bench = ctx.text["benchmarks"][key]
    rows = bench["rows"] if row is None else {row: bench["rows"][row]}
    return {"benchmark": bench["title"], "source": bench["source"], "measured": bench["measured"],
            "data": bench["data"],
            "figures": {name: dict(zip(bench["columns"], values, strict=True))
                        for name, values in rows.items()}}


def _feedback(ctx: Context) -> dict[str, Any]:
    return {
        "rule": f"Incidents whose origin is {PATROL!r} are left out of training unless they "
                "carry propensity weights (belvedere.models.base.check_feedback raises "
                "FeedbackLoopRisk otherwise): a forecast used to send patrols must not learn "
                "where the patrols went.",
        "evidence": _benchmark(ctx, ctx.text["cards"]["feedback"]),
    }


def model_cards(ctx: Context) -> dict[str, dict[str, Any]]:
    """Every model's card, by name: the forecasters, then ``event_impact`` and
    ``anomalies``."""
    cards: dict[str, dict[str, Any]] = {}
    texts = ctx.text.get("models", {})
    sources = inspect.signature(load_event_data).parameters["sources"].default
    toronto = ctx.text["cards"]["forecasters"]
    thresholded = ", ".join(sorted(ALWAYS_THRESHOLDED))
    for name, factory in forecasters().items():
        model = factory()
        text = texts.get(name, {})
        data = [f"incident points and times of {', '.join(sources)} (the forecast command's "
                "default; other incident feeds on request), on the study area's H3 cells",
                f"incidents discovered by patrols ({PATROL}) left out"]
        if name in ("boosted", "ensemble"):
            data.append("other feeds' aggregates: " + ", ".join(CROSS_SOURCE_METRICS)
                        + "; planned events")
        rows = ctx.text["benchmarks"][toronto]["rows"]
        features = FEATURES.get(name) or [
            f for member in getattr(model, "members", {}) for f in FEATURES.get(member, [])]
        cards[name] = _card(ctx, name, text, model, data, features,
                            [_benchmark(ctx, toronto, name)] if name in rows else [])
    impact = EventImpactModel()
    cards["event_impact"] = _card(
        ctx, "event_impact", texts.get("event_impact", {}), impact,
        ["hourly counts per cell of every feed around the venue (incidents, crowd counts, "
         "boardings, emergency arrivals, camera counts)", "planned events: kind, venue, "
         "times, expected attendance"],
        FEATURES["event_impact"],
        [_benchmark(ctx, k) for k in ctx.text["cards"]["event_impact"]])
    detector = AnomalyDetector()
    cards["anomalies"] = _card(
        ctx, "anomalies", texts.get("anomalies", {}), detector,
        [f"{f.name}: {', '.join(f.sources)} {f.metric} per {f.level}" for f in FEEDS]
        + [f"figures of {thresholded} are withheld under k in the alerts for every role"],
        FEATURES["anomalies"],
        [_benchmark(ctx, k) for k in ctx.text["cards"]["anomalies"]])
    return cards


def _card(ctx: Context, name: str, text: dict[str, Any], model: Any, data: list[str],
          features: list[str], metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name, "title": text.get("name", name),
        "belvedere_version": __version__, "generated": ctx.generated.isoformat(),
        "model": {"class": type(model).__name__, "module": type(model).__module__,
                  "parameters": _params(model)},
        "method": text.get("method", f"({TO_COMPLETE})"),
        "intended_use": text.get("intended_use", f"({TO_COMPLETE})"),
        "out_of_scope": list(text.get("out_of_scope", [])),
        "data": data, "features": features,
        "socio_demographic_features": "none: features are environmental, temporal and event "
                                      "variables only (belvedere.models.features)",
        "metrics": metrics or [{"benchmark": f"({TO_COMPLETE}: no measured accuracy "
                                             "recorded)"}],
        "limits": text.get("limits", f"({TO_COMPLETE})"),
        "feedback_loop_guard": _feedback(ctx),
        "human_oversight": ctx.text["algorithms"]["human_oversight"],
    }


def card_markdown(card: dict[str, Any]) -> str:
    """A model card as Markdown, for people."""
    lines = [f"# Model card: {card['title']} (`{card['name']}`)", "",
             f"belvedere {card['belvedere_version']}, generated {card['generated']}.", "",
             f"**Method.** {card['method']}", "", f"**Intended use.** {card['intended_use']}",
             "", "**Out of scope.**", *(f"- {x}" for x in card["out_of_scope"]), "",
             "**Data.**", *(f"- {x}" for x in card["data"]), "", "**Features.**",
             *(f"- {x}" for x in card["features"]), "",
             f"**Socio-demographic features.** {card['socio_demographic_features']}.", "",
             f"**Parameters** (`{card['model']['module']}.{card['model']['class']}`): "
             f"`{card['model']['parameters']}`", "", "## Measured accuracy", ""]
    for m in card["metrics"]:
        lines.append(f"**{m['benchmark']}**")
        if "figures" not in m:
            lines.append("")
            continue
        lines += [f"Source: {m['source']}; measured {m['measured']}; data: {m['data']}.", ""]
        columns = list(next(iter(m["figures"].values())))
        lines += ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {row} | " + " | ".join(f"{v:g}" for v in values.values()) + " |"
                  for row, values in m["figures"].items()]
        lines.append("")
    guard = card["feedback_loop_guard"]
    lines += ["## Limits", "", card["limits"], "", "## Feedback-loop guard", "", guard["rule"],
              "", "## Human oversight", "", card["human_oversight"], ""]
    return "\n".join(lines)


def algorithm_register(ctx: Context, cards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The register of algorithms (Etalab's inventory fields), one entry per main algorithm."""
    alg = ctx.text["algorithms"]
    legal = "; ".join(f"{p.id}: {p.legal_basis}" for p in ctx.registry.purposes.values()
                      if set(p.outputs) & {"forecast", "anticipation", "alerts", "situation"})
    common = {
        "administration": alg["administration"], "service": alg["service"],
        "contact": ctx.dpo_contact, "updated": ctx.generated.date().isoformat(),
        "scope": alg["scope"], "decisions_per_year": alg["decisions_per_year"],
        "public": alg["public"], "automation": alg["automation"],
        "human_oversight": alg["human_oversight"], "legal_basis": legal,
        "source_code": f"belvedere {__version__} (AGPL-3.0-or-later), published with this "
                       "dossier's version",
    }
    ensemble = cards["ensemble"]["model"]["parameters"]
    entries = [
        {**common, **_fields(alg["forecast"]), "id": "forecast",
         "parameters_and_weights": {
             "default_model": "ensemble", "ensemble": ensemble,
             "weights": "equal weights over the members" if ensemble.get("weights") is None
             else ensemble["weights"],
             "other_models": {n: c["model"]["parameters"] for n, c in cards.items()
                              if n not in ("ensemble", "event_impact", "anomalies")}},
         "accuracy": cards["ensemble"]["metrics"] + cards["naive"]["metrics"]},
        {**common, **_fields(alg["event_impact"]), "id": "event_impact",
         "parameters_and_weights": cards["event_impact"]["model"]["parameters"],
         "accuracy": cards["event_impact"]["metrics"]},
        {**common, **_fields(alg["anomalies"]), "id": "anomalies",
         "parameters_and_weights": cards["anomalies"]["model"]["parameters"],
         "accuracy": cards["anomalies"]["metrics"]},
        {**common, **_fields(alg["release"]), "id": "release",
         "parameters_and_weights": _release_rules(ctx), "accuracy": []},
    ]
    return {"obligation": alg["obligation"],
            "template": "Etalab, fiche pratique « l'inventaire des principaux traitements "
                        "algorithmiques » (updated 2021-02-11)",
            "algorithms": entries}


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("name", "context", "purpose", "how_when", "data",
                                  "data_sources", "collection", "algorithm_type",
                                  "operations")}


def _release_rules(ctx: Context) -> dict[str, Any]:
    """The release gate's rules as the code and the register of purposes set them."""
    roles = {r: {"finest_level": p.finest_level, "finest_bin": p.finest_bin, "k": p.k}
             for r, p in POLICIES.items()}
    noise = {f"{row.role} × {row.purpose}": {"mechanism": row.mechanism,
                                             "epsilon_per_release": row.epsilon,
                                             "rho_per_release": row.rho}
             for row in ctx.registry.policies.values()}
    caps = {p.id: {"epsilon": p.budget.epsilon, "delta": p.budget.delta,
                   "period": p.budget.period}
            for p in ctx.registry.purposes.values() if p.budget is not None}
    return {"roles": roles, "always_thresholded_feeds": sorted(ALWAYS_THRESHOLDED),
            "noise_by_role_and_purpose": noise, "privacy_budget_caps": caps}
