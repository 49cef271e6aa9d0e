"""⑧ The event-preparation briefing: an A4 PDF for a planned event's safety meeting.

:func:`render_event_brief` finds the planned event in the store (through the release gate),
forecasts its impact with :class:`~belvedere.models.event_impact.EventImpactModel`, looks for
competing events with :func:`~belvedere.models.conflicts.find_conflicts`, renders
``templates/event_brief.html`` with Jinja2 and prints it with WeasyPrint, then records the
release in the access log.

What the briefing shows, and what it does not (DESIGN.md §2):

- a map of the expected *extra* load (expected − baseline) per H3 cell at the start hour, for
  municipal-police incidents and crowd counts — colours on aggregate cells, no number per cell;
- per feed, the hourly totals over the area with 80 % and 95 % bands against the baseline;
- a table of those totals in which every value under ``k`` is written ``< k``: briefings go to
  meeting participants, so the threshold applies whatever the producer's role;
- the conflicts with other planned events within ±1 day; how accurate the model is; a privacy
  notice naming the purpose and the access-log entry of this very briefing.

Rendering is offline: figures are PNG data URIs and any other URL is refused; the fonts are the
system's DejaVu.

Example (a store holding the synthetic city)::

    render_event_brief(store, event_id="OM-2024-10-04", lang="fr", out=Path("brief.pdf"),
                       actor=Actor("chef-de-salle", "analyst"))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h3
import numpy as np
import polars as pl
from matplotlib.collections import PolyCollection
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from belvedere.briefings.i18n import label, long_date, number, strings
from belvedere.briefings.render import environment, png_uri, suppressed, write_pdf
from belvedere.errors import ConfigError, NotFound
from belvedere.grid.places import VENUES
from belvedere.grid.zones import arrondissements
from belvedere.models.base import coarsen
from belvedere.models.conflicts import Conflict, find_conflicts, planned_from_rows
from belvedere.models.event_impact import (
    FEEDS,
    EventImpactModel,
    ImpactEvent,
    history_from_store,
    totals,
)
from belvedere.privacy.policy import DEFAULT_K, policy_for
from belvedere.privacy.release import Actor, record_release, release_events
from belvedere.store.base import Store

PARIS = ZoneInfo("Europe/Paris")
YEAR = timedelta(days=366)
DAY = timedelta(days=1)
MAP_FEEDS = ("police_log", "crowd")
"""The feeds mapped at the start hour: what the police and the crowd managers plan for."""
TABLE_OFFSETS = (-3, -2, -1, 0, 1, 2, 3, 4)
"""Hours (from the start) shown in the totals table; the curves show every forecast hour."""


@dataclass(frozen=True)
class _Figure:
    feed: str
    title: str
    uri: str


def render_event_brief(store: Store, *, event_id: str, lang: str, out: Path, actor: Actor,
                       purpose: str = "event_preparation", resolution: int = 8) -> Path:
    """Render the preparation briefing of planned event ``event_id`` as an A4 PDF at ``out``.

    Args:
        store: the store (read through the release gate and the models' loaders only).
        event_id: the planned event's ``source_id`` (``OM-2024-10-04``…).
        lang: ``fr`` or ``en``.
        out: the PDF to write (its folder is created).
        actor: who asks; the release is recorded in their name.
        purpose: the declared purpose (a registered one).
        resolution: H3 resolution of the forecast cells (8: the operator's crowd counts).

    Returns:
        ``out``.

    Raises:
        ConfigError: unknown language, empty store, or no planned event ``event_id``.
        PolicyDenied: unknown role or undeclared purpose.
    """
    texts = strings(lang)
    policy = policy_for(actor.role)
    period = store.data_period()
    if period is None:
        raise ConfigError("the store holds no data: ingest feeds before producing a briefing")
    calendar = release_events(store, period[0] - YEAR, period[1] + YEAR, actor,
                              purpose).to_pylist()
    row = next((r for r in calendar if str(r["source_id"]) == event_id), None)
    if row is None:
        raise NotFound(f"no planned event {event_id!r} in the store between "
                          f"{(period[0] - YEAR):%Y-%m-%d} and {(period[1] + YEAR):%Y-%m-%d}")
    event = impact_event(row, resolution)
    model = EventImpactModel(resolution=resolution)
    forecast = model.fit(history_from_store(store, resolution=resolution)).anticipate(event)
    # Briefings go to meeting participants: the threshold applies whatever the producer's role.
    k = policy.k if policy.k is not None else DEFAULT_K
    area = area_totals(forecast)
    # A curve shows every hour's level: a feed with any hourly value under k is not
    # drawn (the table masks those values; the curve would reveal them).
    feeds = area["feed"].unique(maintain_order=True).to_list()
    low = area.filter(pl.min_horizontal("expected", "baseline", "lo80") < k)
    withheld = [f for f in feeds if f in set(low["feed"].to_list())]
    shown = [f for f in feeds if f not in withheld]
    conflicts = event_conflicts(calendar, event_id)
    titles = {str(r["source_id"]): str(r["title"]) for r in calendar}
    seq = record_release(store, actor, purpose,
                         what={"resource": "briefing", "event": event_id, "lang": lang},
                         rows=forecast.height)
    start_local = event.start.astimezone(PARIS)
    site = VENUES.get(str(row.get("venue") or ""))
    context = {
        "t": texts, "lang": lang, "k": k,
        "doc_title": texts["doc.title"],
        "title": str(row["title"]),
        "kind": label(texts, f"kind.{event.kind}", event.kind),
        "venue": site.name if site else str(row.get("venue") or ""),
        "when": f"{long_date(start_local, lang)}–{event.end.astimezone(PARIS):%H:%M}",
        "attendance": (texts["title.persons"].format(n=number(event.expected_attendance, lang))
                       if event.expected_attendance else texts["title.unknown"]),
        "generated": texts["doc.generated"].format(
            when=long_date(datetime.now(UTC).astimezone(PARIS), lang), actor=actor.username,
            role=actor.role, purpose=label(texts, f"purpose.{purpose}", purpose)),
        "map_title": texts["map.title"].format(when=f"{start_local:%H:%M}"),
        "map_caption": texts["map.caption"].format(resolution=resolution),
        "map_uri": png_uri(_extra_load_map(forecast, event, texts)),
        "curves_caption": texts["curves.caption"].format(rings=max(b[1] for b in model.bands))
        + (" " + texts["curves.withheld"].format(
            k=k, feeds=", ".join(label(texts, f"feed.{f}", f) for f in withheld))
           if withheld else ""),
        "curves": [_Figure(feed, label(texts, f"feed.{feed}", feed),
                           png_uri(_curve(area.filter(pl.col("feed") == feed), texts)))
                   for feed in shown],
        "table_caption": texts["table.caption"].format(k=k),
        "table_hours": [_local_hour(event.start, o) for o in TABLE_OFFSETS],
        "table": _table(area, texts, k, lang),
        "conflicts": [_conflict_row(c, event_id, titles, texts, lang) for c in conflicts],
        "privacy_threshold": texts["privacy.threshold"].format(k=k),
        "privacy_purpose": texts["privacy.purpose"].format(
            purpose=label(texts, f"purpose.{purpose}", purpose)),
        "privacy_logged": texts["privacy.logged"].format(seq=seq),
    }
    html = environment().get_template("event_brief.html").render(**context)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pdf(html, out)
    return out


def impact_event(row: dict[str, Any], resolution: int) -> ImpactEvent:
    """The :class:`ImpactEvent` of a stored planned-event row, its venue cell at
    ``resolution`` (the stored cell, coarsened as the model's history does; else the venue's
    position)."""
    if row.get("cell") is not None:
        cell = int(coarsen(np.array([row["cell"]], dtype=np.int64), resolution)[0])
    elif row.get("lat") is not None and row.get("lon") is not None:
        cell = h3.str_to_int(h3.latlng_to_cell(float(row["lat"]), float(row["lon"]),
                                               resolution))
    else:
        raise ConfigError(f"planned event {row['source_id']!r} has no place")
    start, end = row["start"].astimezone(UTC), row["end"].astimezone(UTC)
    return ImpactEvent(kind=str(row["kind"]), venue=str(row.get("venue") or ""), cell=cell,
                       start=start, end=end,
                       expected_attendance=float(row.get("expected_attendance") or 0))


def area_totals(forecast: pl.DataFrame) -> pl.DataFrame:
    """Per feed and hour: the area's totals with their intervals (:func:`totals`), feeds in
    :data:`FEEDS` order."""
    order = {name: i for i, name in enumerate(FEEDS)}
    return (totals(forecast)
            .with_columns(order=pl.col("feed").replace_strict(order, default=len(order)))
            .sort("order", "feed", "offset_h").drop("order"))


def event_conflicts(calendar: list[dict[str, Any]], event_id: str) -> list[Conflict]:
    """Conflicts between ``event_id`` and the planned events starting within ±1 day of it."""
    this = next(r for r in calendar if str(r["source_id"]) == event_id)
    near = [r for r in calendar if abs(r["start"] - this["start"]) <= DAY]
    return [c for c in find_conflicts(planned_from_rows(near)) if event_id in (c.first, c.second)]


def _local_hour(start: datetime, offset: int) -> str:
    at = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=offset)
    return f"{at.astimezone(PARIS):%H:%M}"


def _hexagon(cell: int) -> np.ndarray:
    """The cell's boundary as (lon, lat) vertices."""
    return np.array([(lon, lat) for lat, lon in h3.cell_to_boundary(h3.int_to_str(cell))])


def _extra_load_map(forecast: pl.DataFrame, event: ImpactEvent,
                    texts: dict[str, str]) -> Figure:
    """Expected − baseline per cell at the start hour, one panel per :data:`MAP_FEEDS`."""
    at_start = forecast.filter(pl.col("offset_h") == 0)
    disk = [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(event.cell),
                                                   int(forecast["ring"].max() or 0))]  # type: ignore[arg-type]
    outline = [_hexagon(c) for c in disk]
    lons = np.concatenate([p[:, 0] for p in outline])
    lats = np.concatenate([p[:, 1] for p in outline])
    venue_lat, venue_lon = h3.cell_to_latlng(h3.int_to_str(event.cell))
    figure = Figure(figsize=(7.4, 3.3))
    for i, feed in enumerate(MAP_FEEDS):
        axes = figure.add_subplot(1, len(MAP_FEEDS), i + 1)
        axes.set_title(label(texts, f"feed.{feed}", feed), fontsize=10)
        for zone in arrondissements():
            for ring in getattr(zone.geometry, "geoms", [zone.geometry]):
                x, y = ring.exterior.xy
                axes.plot(x, y, color="#b0b0b0", linewidth=0.5, zorder=1)
        axes.add_collection(PolyCollection(outline, facecolors="none", edgecolors="#e0e0e0",
                                           linewidths=0.3, zorder=2))
        rows = at_start.filter(pl.col("feed") == feed)
        if rows.height:
            extra = (rows["expected"] - rows["baseline"]).to_numpy()
            bound = max(float(np.abs(extra).max()), 1e-6)
            cells = PolyCollection([_hexagon(int(c)) for c in rows["cell"]], array=extra,
                                   cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -bound, bound),
                                   edgecolors="white", linewidths=0.3, zorder=3)
            axes.add_collection(cells)
            bar = figure.colorbar(cells, ax=axes, shrink=0.7, pad=0.02)
            bar.set_label(texts["map.extra"], fontsize=8)
            bar.ax.tick_params(labelsize=7)
        else:
            axes.text(0.5, 0.5, texts["map.no_data"], transform=axes.transAxes, ha="center",
                      fontsize=9, color="#666666")
        axes.plot([venue_lon], [venue_lat], marker="*", markersize=11, color="black",
                  zorder=4)
        margin = 0.003
        axes.set_xlim(lons.min() - margin, lons.max() + margin)
        axes.set_ylim(lats.min() - margin, lats.max() + margin)
        axes.set_aspect(1 / np.cos(np.radians(venue_lat)))
        axes.set_xticks([])
        axes.set_yticks([])
    figure.tight_layout()
    return figure


def _curve(totals: pl.DataFrame, texts: dict[str, str]) -> Figure:
    """Expected with its 80 % / 95 % bands against the baseline, hour by hour (Paris time)."""
    hours = [f"{h.astimezone(PARIS):%H}h" for h in totals["hour"]]
    x = np.arange(totals.height)
    figure = Figure(figsize=(3.6, 2.3))
    axes = figure.add_subplot(1, 1, 1)
    axes.fill_between(x, totals["lo95"], totals["hi95"], color="#f4c7a1",
                      label=texts["curves.band95"], linewidth=0)
    axes.fill_between(x, totals["lo80"], totals["hi80"], color="#eb8f4c",
                      label=texts["curves.band80"], linewidth=0)
    axes.plot(x, totals["expected"], color="#8c2d04", linewidth=1.6,
              label=texts["curves.expected"])
    axes.plot(x, totals["baseline"], color="#333333", linewidth=1.1, linestyle="--",
              label=texts["curves.baseline"])
    start = int(np.argmax(totals["offset_h"].to_numpy() == 0))
    axes.axvline(start, color="#999999", linewidth=0.7, linestyle=":")
    axes.set_xticks(x[::2], hours[::2], fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel(texts["curves.hour"], fontsize=7)
    axes.set_ylim(bottom=0)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.32),
                ncols=4, handlelength=1.5, columnspacing=1.0)
    figure.tight_layout()
    return figure


def _table(totals: pl.DataFrame, texts: dict[str, str], k: int,
           lang: str) -> list[dict[str, Any]]:
    """Rows of the totals table: per feed, per shown hour, thresholded values only."""
    out = []
    for feed in totals["feed"].unique(maintain_order=True):
        rows = {r["offset_h"]: r for r in totals.filter(pl.col("feed") == feed)
                .iter_rows(named=True)}
        cells: list[dict[str, str] | None] = []
        for offset in TABLE_OFFSETS:
            r = rows.get(offset)
            if r is None:
                cells.append(None)
                continue
            cells.append({"expected": suppressed(r["expected"], k, lang),
                          "interval": f"{suppressed(r['lo80'], k, lang)} – "
                                      f"{suppressed(r['hi80'], k, lang)}",
                          "baseline": suppressed(r["baseline"], k, lang)})
        out.append({"feed": label(texts, f"feed.{feed}", feed), "cells": cells})
    return out


def _conflict_row(conflict: Conflict, event_id: str, titles: dict[str, str],
                  texts: dict[str, str], lang: str) -> dict[str, str]:
    other = conflict.second if conflict.first == event_id else conflict.first
    why = []
    for kind in conflict.kinds:
        why.append(label(texts, f"why.{kind}", kind).format(
            hospital=conflict.hospital or "", lines="/".join(conflict.lines)))
    start, end = conflict.overlap_start.astimezone(PARIS), conflict.overlap_end.astimezone(PARIS)
    return {"other": titles.get(other, other),
            "when": f"{long_date(start, lang)}–{end:%H:%M}",
            "why": ", ".join(why),
            "distance": f"{conflict.distance_m / 1000:.1f} km".replace(
                ".", "," if lang == "fr" else "."),
            "attendance": number(conflict.combined_attendance, lang)}
