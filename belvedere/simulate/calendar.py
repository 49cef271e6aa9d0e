"""The events calendar: OM home matches, demonstrations, concerts and the summer festival.

Olympique de Marseille's home matches are the **real** Ligue 1 fixtures of the packaged file
``data/om_home_fixtures.csv`` (seasons 2015-16 to 2024-25, engsoccerdata) for every date that
file covers; outside it a plausible schedule is drawn per season: a home match about every
14 days from mid-August to late May (no match over the Christmas break), on Saturday or Sunday,
sometimes an extra Wednesday match. The source has no kick-off time: the simulator uses
**21:00** from Friday to Sunday and **20:45** from Monday to Thursday, and a match lasts 110
minutes. Attendance is drawn between 55,000 and 65,000 (65,000 against Paris Saint-Germain).

Each month also gets 1–3 demonstrations along Vieux-Port → Canebière → Réformés (14:00 at the
weekend, 10:30 on weekdays, 3 hours; always on 1 May and 8 March) and 1–2 concerts at Le Dôme
(Thursday–Saturday, 20:30); each July has a three-day festival on the Prado beaches (from the
third Friday, 18:00–01:00). No two planned events share a day, except the fixed 1 May and
8 March demonstrations, which happen whatever else is planned.

Draws are keyed by season, month or match date (never by the period), so two periods that
overlap agree on the events they share.

Example:
    >>> from datetime import date
    >>> from belvedere.simulate.clock import Period
    >>> events = build_calendar(Period(date(2024, 9, 1), 30), seed=1)
    >>> [e.event_id for e in events if e.kind == "match_football"]
    ['OM-2024-09-14']
"""

from __future__ import annotations

import calendar as _gregorian
import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from belvedere.grid.places import VENUES
from belvedere.simulate.clock import Period, wall_to_utc
from belvedere.simulate.geo import distance_to_polyline_m, haversine_m, points_along
from belvedere.simulate.parameters import CalendarParams
from belvedere.simulate.streams import stream
from belvedere.simulate.writers import fmt_decimal_comma

MATCH, DEMONSTRATION, CONCERT, FESTIVAL = "match_football", "manifestation", "concert", "festival"
_SUB_MATCH_SEASON, _SUB_MATCH_DAY, _SUB_MONTH, _SUB_FESTIVAL = 0, 1, 2, 3
_HOME = "Olympique de Marseille"
_SELLOUT_OPPONENT = "Paris Saint-Germain"
_DEMONSTRATION_TITLES = (
    "Manifestation intersyndicale", "Marche pour le climat",
    "Manifestation des personnels de santé", "Manifestation enseignante",
    "Rassemblement pour le logement", "Manifestation des retraités",
)
_FIXED_DEMONSTRATIONS = {(5, 1): "Défilé du 1er mai", (3, 8): "Manifestation 8 mars"}
_ARTISTS = (
    "Massilia Jazz Collective", "Les Calanques Électriques", "Orchestre du Vieux-Port",
    "Nuit électro du Dôme", "Chœur de la Bonne Mère", "Rap du Panier", "Soul de l'Estaque",
)


@dataclass(frozen=True)
class SimEvent:
    """A planned event of the synthetic city.

    Attributes:
        event_id: ``OM-2024-09-14``, ``MANIF-…``, ``CONCERT-…``, ``FEST-…`` (one per kind a day).
        kind: ``match_football``, ``manifestation``, ``concert`` or ``festival``.
        title: French title, as in the calendar feed.
        venue: a venue id of :data:`belvedere.grid.places.VENUES`.
        start, end: naive local times.
        attendance: expected attendance.
        route: for demonstrations, the declared route as ``(lat, lon)`` vertices.
    """

    event_id: str
    kind: str
    title: str
    venue: str
    start: datetime
    end: datetime
    attendance: int
    route: tuple[tuple[float, float], ...] = ()

    @property
    def lat(self) -> float:
        """Latitude of the venue."""
        return VENUES[self.venue].lat

    @property
    def lon(self) -> float:
        """Longitude of the venue."""
        return VENUES[self.venue].lon

    @property
    def start_utc(self) -> int:
        """UTC seconds of the start."""
        return wall_to_utc(self.start)

    @property
    def end_utc(self) -> int:
        """UTC seconds of the end."""
        return wall_to_utc(self.end)

    def distance_m(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Distance of points to the event: to its route if it has one, else to its venue."""
        if self.route:
            return distance_to_polyline_m(lat, lon, self.route)
        return haversine_m(lat, lon, self.lat, self.lon)

    def anchors(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points where the event's effects are centred (uniform along a route)."""
        if self.route:
            return points_along(self.route, rng.random(n))
        return np.full(n, self.lat), np.full(n, self.lon)


@lru_cache(maxsize=1)
def om_home_fixtures() -> tuple[tuple[date, str], ...]:
    """OM's real home league fixtures ``(date, opponent)`` from the packaged file."""
    text = resources.files("belvedere.simulate").joinpath("data", "om_home_fixtures.csv")
    rows = csv.DictReader(text.read_text("utf-8").splitlines())
    return tuple((date.fromisoformat(r["date"]), r["opponent"]) for r in rows)


def build_calendar(period: Period, seed: int,
                   params: CalendarParams | None = None) -> list[SimEvent]:
    """Every planned event starting in the period, sorted by start then id."""
    p = params or CalendarParams()
    # Draw whole months so the events do not depend on where the period starts or ends.
    months = _months_between(period.start, period.end)
    month_start = date(months[0][0], months[0][1], 1)
    y, m = months[-1]
    month_end = date(y, m, _gregorian.monthrange(y, m)[1]) + timedelta(days=1)
    events = _matches(month_start, month_end, seed, p)
    taken = {e.start.date() for e in events}
    for year in sorted({y for y, m in months if m == 7}):
        for event in _festival(year, taken, seed, p):
            taken.add(event.start.date())
            events.append(event)
    for year, month in months:
        for event in _demonstrations(year, month, taken, seed, p):
            taken.add(event.start.date())
            events.append(event)
        for event in _concerts(year, month, taken, seed, p):
            taken.add(event.start.date())
            events.append(event)
    kept = [e for e in events if period.covers(e.start.date())]
    return sorted(kept, key=lambda e: (e.start, e.event_id))


def _months_between(first: date, end: date) -> list[tuple[int, int]]:
    last = end - timedelta(days=1)
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [((first.month - 1 + i) // 12 + first.year, (first.month - 1 + i) % 12 + 1)
            for i in range(count)]


def _at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm))


def _match(day: date, opponent: str, seed: int, p: CalendarParams) -> SimEvent:
    rng = stream(seed, "calendar", _SUB_MATCH_DAY, day.toordinal())
    low, high = p.match_attendance
    attendance = (p.match_sellout_attendance if opponent == _SELLOUT_OPPONENT
                  else int(rng.integers(low // 100, high // 100 + 1)) * 100)
    kickoff = _at(day, p.match_weekend_kickoff if day.weekday() >= 4 else p.match_midweek_kickoff)
    return SimEvent(f"OM-{day.isoformat()}", MATCH, f"{_HOME} – {opponent}", "velodrome",
                    kickoff, kickoff + timedelta(minutes=p.match_minutes), attendance)


def _matches(first: date, end: date, seed: int, p: CalendarParams) -> list[SimEvent]:
    real_from = date.fromisoformat(p.real_fixtures_from)
    real_until = date.fromisoformat(p.real_fixtures_until)
    fixtures = [(d, o) for d, o in om_home_fixtures() if first <= d < end]
    season_of = {d.year if d.month >= 7 else d.year - 1 for d in _days(first, end)}
    for season in sorted(season_of):
        fixtures.extend((d, o) for d, o in _synthetic_season(season, seed, p)
                        if first <= d < end and not real_from <= d <= real_until)
    return [_match(d, o, seed, p) for d, o in sorted(fixtures)]


def _days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


def _synthetic_season(season: int, seed: int, p: CalendarParams) -> list[tuple[date, str]]:
    """A plausible home schedule for the season starting in ``season`` (mid-August → May)."""
    rng = stream(seed, "calendar", _SUB_MATCH_SEASON, season)
    opponents = sorted({o for d, o in om_home_fixtures() if d.year >= 2024})
    month, day = map(int, p.season_first_day.split("-"))
    saturday = date(season, month, day)
    saturday += timedelta(days=(5 - saturday.weekday()) % 7 + 7 * int(rng.integers(0, 2)))
    month, day = map(int, p.season_last_day.split("-"))
    last = date(season + 1, month, day)
    dates: list[date] = []
    while saturday <= last:
        christmas_break = (saturday.month, saturday.day) >= (12, 21) or (
            saturday.month, saturday.day) <= (1, 2)
        if not christmas_break:
            sunday = rng.random() < p.synthetic_sunday_share
            dates.append(saturday + timedelta(days=int(sunday)))
            if rng.random() < p.synthetic_midweek_share:
                dates.append(saturday + timedelta(days=4))  # the following Wednesday
        saturday += timedelta(days=p.synthetic_home_interval_days)
    order = rng.permutation(len(opponents))
    return [(d, opponents[order[i % len(order)]]) for i, d in enumerate(dates)]


def _month_days(year: int, month: int, taken: set[date]) -> list[date]:
    days = _gregorian.monthrange(year, month)[1]
    return [d for d in (date(year, month, i) for i in range(1, days + 1)) if d not in taken]


def _demonstrations(year: int, month: int, taken: set[date], seed: int,
                    p: CalendarParams) -> list[SimEvent]:
    rng = stream(seed, "calendar", _SUB_MONTH, year * 12 + month, 0)
    free = _month_days(year, month, taken)
    n = int(rng.integers(p.demonstrations_per_month[0], p.demonstrations_per_month[1] + 1))
    chosen = {date(year, month, d): t for (m, d), t in _FIXED_DEMONSTRATIONS.items() if m == month}
    pool = [d for d in free if d not in chosen]
    picks = rng.choice(len(pool), size=max(0, min(n - len(chosen), len(pool))), replace=False)
    for i in sorted(picks):
        chosen[pool[i]] = _DEMONSTRATION_TITLES[int(rng.integers(len(_DEMONSTRATION_TITLES)))]
    low, high = p.demonstration_attendance
    events = []
    for day in sorted(chosen):
        start = _at(day, "14:00" if day.weekday() >= 5 else "10:30")
        attendance = int(rng.integers(low // 100, high // 100 + 1)) * 100
        events.append(SimEvent(f"MANIF-{day.isoformat()}", DEMONSTRATION, chosen[day],
                               "canebiere", start, start + timedelta(hours=3), attendance,
                               p.demonstration_route))
    return events


def _concerts(year: int, month: int, taken: set[date], seed: int,
              p: CalendarParams) -> list[SimEvent]:
    rng = stream(seed, "calendar", _SUB_MONTH, year * 12 + month, 1)
    pool = [d for d in _month_days(year, month, taken) if d.weekday() in (3, 4, 5)]
    n = int(rng.integers(p.concerts_per_month[0], p.concerts_per_month[1] + 1))
    picks = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))
    low, high = p.concert_attendance
    events = []
    for i in picks:
        start = _at(pool[i], p.concert_start)
        artist = _ARTISTS[int(rng.integers(len(_ARTISTS)))]
        attendance = int(rng.integers(low // 100, high // 100 + 1)) * 100
        events.append(SimEvent(f"CONCERT-{pool[i].isoformat()}", CONCERT,
                               f"Concert au Dôme — {artist}", "le_dome", start,
                               start + timedelta(minutes=p.concert_minutes), attendance))
    return events


def _festival(year: int, taken: set[date], seed: int, p: CalendarParams) -> list[SimEvent]:
    rng = stream(seed, "calendar", _SUB_FESTIVAL, year)
    first_friday = date(year, 7, 1) + timedelta(days=(4 - date(year, 7, 1).weekday()) % 7)
    low, high = p.festival_attendance
    events = []
    for i in range(p.festival_days):
        day = first_friday + timedelta(days=14 + i)
        if day in taken:
            continue
        start = _at(day, p.festival_start)
        attendance = int(rng.integers(low // 100, high // 100 + 1)) * 100
        events.append(SimEvent(f"FEST-{day.isoformat()}", FESTIVAL,
                               f"Festival des plages du Prado — jour {i + 1}", "plages_prado",
                               start, start + timedelta(minutes=p.festival_minutes), attendance))
    return events


def write_calendar(events: list[SimEvent], folder: Path) -> int:
    """Write ``evenements.csv`` (``;``-separated, decimal commas) and return its row count."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "id_evenement;type;titre;lieu;latitude;longitude;debut;fin;affluence_prevue;parcours"
    lines = [header]
    for e in events:
        route = "|".join(f"{lat:.4f} {lon:.4f}" for lat, lon in e.route)
        lines.append(";".join([
            e.event_id, e.kind, e.title, e.venue, fmt_decimal_comma(e.lat, 4),
            fmt_decimal_comma(e.lon, 4), e.start.strftime("%Y-%m-%d %H:%M"),
            e.end.strftime("%Y-%m-%d %H:%M"), str(e.attendance), route,
        ]))
    (folder / "evenements.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(events)
