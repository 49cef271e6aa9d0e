"""⑧ The daily situation report: one day of the city, through the release gate, as a PDF.

:func:`render_daily_brief` releases the day's city totals per feed (and the same weekday of the
four weeks before, for comparison), the municipal-police log per arrondissement, and the planned
events of the day with their conflicts — each figure under the role's policy, values under
``k`` written ``< k`` whatever the role, since the report goes to a meeting — and prints them
with the shared briefing page (:mod:`belvedere.briefings.render`).

Example (a store holding the synthetic city)::

    render_daily_brief(store, day=date(2024, 10, 4), lang="fr", out=Path("daily.pdf"),
                       actor=Actor("chef-de-salle", "analyst"))
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from belvedere.briefings.i18n import label, long_date, number, strings
from belvedere.briefings.render import environment, suppressed, write_pdf
from belvedere.grid.places import VENUES
from belvedere.grid.zones import arrondissements
from belvedere.models.conflicts import find_conflicts, planned_from_rows
from belvedere.privacy.policy import DEFAULT_K, policy_for
from belvedere.privacy.release import Actor, record_release, release, release_events
from belvedere.sources.base import registry
from belvedere.store.base import SituationQuery, Store

PARIS = ZoneInfo("Europe/Paris")
WEEKS = 4


def render_daily_brief(store: Store, *, day: date, lang: str, out: Path, actor: Actor,
                       purpose: str = "situation_monitoring") -> Path:
    """Write the daily situation report of ``day`` (Paris time) to ``out``; returns ``out``."""
    texts = strings(lang)
    policy = policy_for(actor.role)
    k = policy.k if policy.k is not None else DEFAULT_K
    start = datetime.combine(day, time(0), PARIS)
    end = start + timedelta(days=1)
    history = release(store, SituationQuery(start=start - timedelta(weeks=WEEKS), end=end,
                                             level="city", bin="day", by_category=False),
                      actor, purpose).table.to_pylist()
    sources = registry()
    primary = {name: s.info.metric for name, s in sources.items()}
    feeds = []
    for name, source in sources.items():
        rows = [r for r in history if r["source"] == name and r["metric"] == primary[name]]
        today = [r["value"] for r in rows if r["bin_start"].date() == day]
        usual = [r["value"] for r in rows if r["bin_start"].date() != day
                 and r["bin_start"].weekday() == day.weekday() and r["value"] is not None]
        if not today and not usual:
            continue
        value = today[0] if today else 0.0
        mean = sum(usual) / len(usual) if usual else None
        hidden = value is None or value < k
        feeds.append({
            "label": source.info.label_fr if lang == "fr" else source.info.label_en,
            "today": f"< {k}" if hidden else number(value, lang),
            "usual": suppressed(mean, k, lang) if mean is not None else "—",
            "change": ("—" if hidden or not mean or mean < k
                       else f"{100 * (value - mean) / mean:+.0f} %"),
        })
    names = {z.zone_id: z.properties.get("short", z.zone_id) for z in arrondissements()}
    zones = release(store, SituationQuery(start=start, end=end, sources=("police_log",),
                                          level="zone", bin="day", by_category=False),
                    actor, purpose).table.to_pylist()
    zone_rows = [{"zone": names.get(r["place"], r["place"]),
                  "today": f"< {k}" if r["suppressed"] or r["value"] < k
                  else number(r["value"], lang)}
                 for r in sorted(zones, key=lambda r: r["place"])]
    calendar = release_events(store, start, end, actor, purpose).to_pylist()
    titles = {str(r["source_id"]): str(r["title"]) for r in calendar}
    events = [{"when": f"{r['start'].astimezone(PARIS):%H:%M}", "title": r["title"],
               "venue": VENUES[r["venue"]].name if r["venue"] in VENUES else r["venue"] or "",
               "attendance": number(r["expected_attendance"] or 0, lang)}
              for r in sorted(calendar, key=lambda r: r["start"])]
    conflicts = [f"{titles.get(c.first, c.first)} / {titles.get(c.second, c.second)}: "
                 f"{', '.join(c.kinds)}" for c in find_conflicts(planned_from_rows(calendar))]
    seq = record_release(store, actor, purpose,
                         what={"resource": "daily_brief", "day": day.isoformat(), "lang": lang},
                         rows=len(feeds) + len(zone_rows) + len(events))
    html = environment().get_template("daily_brief.html").render(
        t=texts, lang=lang, doc_title=texts["daily.title"],
        title=texts["daily.heading"].format(day=long_date(start, lang).rsplit(",", 1)[0]),
        generated=texts["doc.generated"].format(
            when=long_date(datetime.now(PARIS), lang), actor=actor.username, role=actor.role,
            purpose=label(texts, f"purpose.{purpose}", purpose)),
        feeds=feeds, zones=zone_rows, events=events, conflicts=conflicts,
        caption=texts["daily.caption"].format(k=k),
        privacy_threshold=texts["privacy.threshold"].format(k=k),
        privacy_purpose=texts["privacy.purpose"].format(
            purpose=label(texts, f"purpose.{purpose}", purpose)),
        privacy_logged=texts["privacy.logged"].format(seq=seq))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pdf(html, out)
    return out
