"""④ The backtest report: one self-contained HTML page, its figures and its JSON.

:func:`write_report` writes into a folder:

* ``report.json`` — the numbers (:meth:`BacktestResult.to_json`);
* ``pai_curve.png``, ``hit_rate_curve.png``, ``calibration.png`` — the comparisons across area
  shares and the calibration of the expected counts;
* ``forecast_map_<model>.png`` — the top 1 % and top 5 % cells of each model's forecast for the
  last window, coloured by expected count;
* ``report.html`` — all of the above in one file (figures embedded as data URIs), headings in
  French and English side by side.

Privacy: a report shows forecasts and city-wide aggregates only. It never maps observed counts
per cell — a cell with one observed event would point at one incident's place — so nothing about
individual incidents leaves through it.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display,
no network).
"""

from __future__ import annotations

import base64
import html
import math
import re
from datetime import datetime
from pathlib import Path

import h3
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from belvedere.errors import ConfigError
from belvedere.models.backtest import BASELINE, BacktestResult
from belvedere.models.metrics import AREA_FRACTIONS, cells_for, fraction_label, rank_cells

DPI = 100
MAP_FRACTIONS = (0.01, 0.05)
"""The map panels: the top 1 % and the top 5 % of cells of each forecast."""

TRAINING_RULE_EN = "each model is fitted only on data strictly before each window"
TRAINING_RULE_FR = ("chaque modèle est ajusté uniquement sur les données strictement antérieures "
                    "à chaque fenêtre")

METRICS_EXPLAINED: tuple[tuple[str, str, str], ...] = (
    ("Taux de réussite / Hit rate",
     "part des faits de la fenêtre survenus dans les cellules les mieux classées couvrant x % de "
     "la zone.",
     "share of the window's events that fell in the top-ranked cells covering x % of the area."),
    ("Indice de précision prédictive / Predictive Accuracy Index (PAI)",
     "taux de réussite divisé par la part de surface couverte : 1 = pas mieux que le hasard.",
     "hit rate divided by the share of area it took: 1 = no better than chance "
     "(Chainey, Tompson & Uhlig 2008)."),
    ("Indice d'efficacité prédictive / Prediction Efficiency Index (PEI*)",
     "faits captés divisés par le maximum que le même nombre de cellules aurait pu capter : "
     "1 = classement parfait.",
     "events caught divided by the most the same number of cells could have caught: "
     "1 = perfect ranking (Hunt 2016)."),
    ("Log-vraisemblance de Poisson / Poisson log-likelihood",
     "probabilité logarithmique des comptes observés sous la prévision : plus haut = mieux ; "
     "elle juge la taille des comptes attendus, pas seulement leur ordre.",
     "log-probability of the observed counts under the forecast: higher is better; it judges "
     "the size of the expected counts, not only their order."),
    ("Calibration / Calibration",
     "moyenne prévue contre moyenne observée par décile de prévision : sur la diagonale = "
     "bien calibré.",
     "mean forecast against mean observed count per decile of forecast: on the diagonal = "
     "well calibrated."),
)


def write_report(result: BacktestResult, out_dir: str | Path, *, title: str,
                 area_cells: np.ndarray, resolution: int) -> Path:
    """Write the report's JSON, figures and HTML into ``out_dir``; returns the HTML path.

    Args:
        result: a :func:`~belvedere.models.backtest.backtest` result.
        out_dir: folder to write into (created if needed).
        title: the page's title.
        area_cells: the study area's H3 cells (int64), in the order of the forecasts.
        resolution: their H3 resolution.
    """
    cells = np.asarray(area_cells, dtype=np.int64)
    if len(cells) != result.n_cells:
        raise ConfigError(f"the report got {len(cells)} area cells for forecasts over "
                          f"{result.n_cells} cells")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "report.json")
    colours = _colours(result.models)

    curves = [_curve_figure(result, colours, pai=True, path=out / "pai_curve.png"),
              _curve_figure(result, colours, pai=False, path=out / "hit_rate_curve.png"),
              _calibration_figure(result, colours, path=out / "calibration.png")]
    polygons = [_polygon(int(c)) for c in cells]
    maps = [_map_figure(name, result.last_scores[name], polygons, result.last_start, resolution,
                        path=out / f"forecast_map_{_slug(name)}.png")
            for name in result.models]

    page = out / "report.html"
    page.write_text(_html(result, title=title, resolution=resolution, curves=curves, maps=maps),
                    encoding="utf-8")
    return page


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "model"


def _colours(models: tuple[str, ...]) -> dict[str, str]:
    palette = ["#1b1b1b", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
               "#e377c2", "#17becf", "#bcbd22"]
    return {m: palette[i % len(palette)] for i, m in enumerate(models)}


def _curve_figure(result: BacktestResult, colours: dict[str, str], *, pai: bool,
                  path: Path) -> Path:
    fig = Figure(figsize=(6.4, 4.0), dpi=DPI)
    ax = fig.add_subplot()
    x = 100 * result.curve_area
    for name in result.models:
        y = result.pai_curve(name) if pai else 100 * result.hit_rate_curve(name)
        ax.plot(x, y, label=name, color=colours[name], lw=2 if name == BASELINE else 1.5,
                ls="--" if name == BASELINE else "-")
    for f in AREA_FRACTIONS:
        ax.axvline(100 * f, color="#cccccc", lw=0.6, zorder=0)
    ax.set_xscale("log")
    ax.set_xlim(0.1, 20)
    ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("Part de la zone / Share of area (%)")
    if pai:
        ax.axhline(1.0, color="#888888", lw=0.8, ls=":")
        ax.set_ylabel("PAI")
        ax.set_title("PAI selon la surface / PAI vs area")
    else:
        ax.set_ylabel("Taux de réussite / Hit rate (%)")
        ax.set_title("Taux de réussite selon la surface / Hit rate vs area")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def _calibration_figure(result: BacktestResult, colours: dict[str, str], *, path: Path) -> Path:
    fig = Figure(figsize=(5.0, 5.0), dpi=DPI)
    ax = fig.add_subplot()
    lows, highs = [], []
    for name in result.models:
        table = result.calibration(name)
        x, y = table["mean_expected"].to_numpy(), table["mean_observed"].to_numpy()
        shown = (x > 0) & (y > 0)  # a log-log plot cannot place zeros
        if shown.any():
            ax.plot(x[shown], y[shown], "o-", label=name, color=colours[name], ms=4, lw=1)
            lows.append(min(x[shown].min(), y[shown].min()))
            highs.append(max(x[shown].max(), y[shown].max()))
    lo, hi = (min(lows) / 1.5, max(highs) * 1.5) if lows else (1e-3, 1.0)
    ax.plot([lo, hi], [lo, hi], color="#888888", lw=0.8, ls=":", label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("Moyenne prévue / Mean expected")
    ax.set_ylabel("Moyenne observée / Mean observed")
    ax.set_title("Calibration / Calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def _polygon(cell: int) -> np.ndarray:
    """A cell's boundary as (lon, lat) vertices, for plotting."""
    boundary = h3.cell_to_boundary(h3.int_to_str(cell))
    return np.array([(lng, lat) for lat, lng in boundary])


def _map_figure(name: str, scores: np.ndarray, polygons: list[np.ndarray], start: datetime,
                resolution: int, *, path: Path) -> Path:
    n = len(scores)
    order = rank_cells(scores)
    widest = order[:cells_for(max(MAP_FRACTIONS), n)]
    norm = Normalize(vmin=0.0, vmax=max(float(scores[widest].max()), 1e-9))
    fig = Figure(figsize=(8.0, 4.0), dpi=DPI)
    axes = fig.subplots(1, len(MAP_FRACTIONS))
    mid_lat = float(np.mean([p[:, 1].mean() for p in polygons]))
    collection = None
    for ax, fraction in zip(axes, MAP_FRACTIONS, strict=True):
        ax.add_collection(PolyCollection(polygons, facecolors="#eeeeee", edgecolors="none"))
        top = order[:cells_for(fraction, n)]
        collection = PolyCollection([polygons[i] for i in top], array=scores[top], cmap="YlOrRd",
                                    norm=norm, edgecolors="#555555", linewidths=0.3)
        ax.add_collection(collection)
        ax.autoscale_view()
        ax.set_aspect(1.0 / math.cos(math.radians(mid_lat)))
        ax.set_xticks([])
        ax.set_yticks([])
        label = fraction_label(fraction)
        ax.set_title(f"{len(top)} cellules / cells — top {label}", fontsize=9)
    if collection is not None:
        fig.colorbar(collection, ax=list(axes), shrink=0.8,
                     label="Nombre attendu / Expected count")
    fig.suptitle(f"{name} — {start:%Y-%m-%d} (H3 r{resolution})", fontsize=10)
    fig.savefig(path, dpi=DPI)
    return path


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", "\u202f")
    return f"{value:.3g}"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _summary_table(result: BacktestResult) -> str:
    summary = result.summary()
    cells = {(r["model"], r["metric"]): r for r in summary.to_dicts()}
    head = "".join(f"<th>{html.escape(m)}</th>" for m in result.models)
    body = []
    for metric in (*result.metric_names, "fit_s", "predict_s"):
        row = []
        for model in result.models:
            r = cells[(model, metric)]
            row.append(f"<td>{_number(r['mean'])}<br><small>[{_number(r['low'])} – "
                       f"{_number(r['high'])}]</small></td>")
        body.append(f"<tr><th scope=row><code>{html.escape(metric)}</code></th>{''.join(row)}</tr>")
    return (f"<table><thead><tr><th>Mesure / Metric</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:right}th[scope=row]{text-align:left}small{color:#666}
figure{display:inline-block;margin:.5em}img{max-width:100%}figcaption{font-size:.8em;color:#555}
.en{color:#555}dt{font-weight:600;margin-top:.5em}
"""


def _html(result: BacktestResult, *, title: str, resolution: int, curves: list[Path],
          maps: list[Path]) -> str:
    starts = result.starts
    hours = result.horizon.total_seconds() / 3600
    explained = "".join(
        f"<dt>{html.escape(head)}</dt><dd>{html.escape(fr)}<br>"
        f"<span class=en>{html.escape(en)}</span></dd>"
        for head, fr, en in METRICS_EXPLAINED)
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(starts)} fenêtres / windows · {starts[0]:%Y-%m-%d} → {starts[-1]:%Y-%m-%d} ·
horizon {hours:g} h · {result.n_cells} cellules / cells (H3 r{resolution}) ·
{len(result.models)} modèles / models</p>

<h2>Règle d'entraînement / Training rule</h2>
<p>Origine glissante : {html.escape(TRAINING_RULE_FR)}.<br>
<span class=en>Rolling origin: {html.escape(TRAINING_RULE_EN)}.</span><br>
Chaque modèle est comparé à la référence naïve <code>naive</code>.
<span class=en>Every model is compared with the naive counting baseline <code>naive</code>.</span>
</p>

<h2>Résumé / Summary</h2>
<p>Moyenne sur les fenêtres [intervalle bootstrap à 95 %].
<span class=en>Mean over windows [95 % bootstrap interval over windows].</span></p>
{_summary_table(result)}

<h2>Les mesures / The metrics</h2>
<dl>{explained}</dl>

<h2>PAI selon la surface / PAI vs area</h2>
{_image(curves[0], "PAI selon la surface / PAI vs area")}

<h2>Taux de réussite selon la surface / Hit rate vs area</h2>
{_image(curves[1], "Taux de réussite selon la surface / Hit rate vs area")}

<h2>Calibration / Calibration</h2>
{_image(curves[2], "Calibration / Calibration")}

<h2>Cartes des prévisions / Forecast maps</h2>
<p>Fenêtre du {starts[-1]:%Y-%m-%d} : cellules prévues les plus à risque (1 % et 5 % de la zone),
colorées selon le nombre attendu. Les comptes observés par cellule ne sont jamais cartographiés :
ils désigneraient le lieu de faits individuels.<br>
<span class=en>Window of {starts[-1]:%Y-%m-%d}: the cells forecast highest (1 % and 5 % of the
area), coloured by expected count. Observed counts per cell are never mapped: they would point
at the places of individual incidents.</span></p>
{"".join(_image(p, f"Prévision / Forecast — {name}") for p, name in zip(maps, result.models,
                                                                          strict=True))}
</body></html>
"""
