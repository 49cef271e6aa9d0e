"""Planted event effects: how a planned event changes each feed, in time and space.

Every effect is an :class:`Effect` of one event kind on one feed: an amount per 1,000
attendees, a time :class:`Profile` (piecewise linear, hours from the event's start) and a
spatial reach. What the amount means depends on the feed:

=================  ====================================================================
feed               ``per_1000`` (× attendance / 1000)
=================  ====================================================================
police_log         extra incidents, Gaussian (``sigma_m``) around the venue or route
fire_ems           extra interventions, likewise
mobile_presence    extra people present at the profile's peak, shared between the cells
                   within ``radius_m`` with Gaussian weights (``sigma_m``)
cctv               extra people counted per 15-minute window at the peak by a camera at
                   the venue, decaying with distance (Gaussian ``sigma_m``, cut at ``radius_m``)
transit            extra boardings over the profile, shared between ``sites``
hospital_ed        extra ED arrivals over the profile, shared between ``sites``
=================  ====================================================================

``mix`` is the category mix of the extra records (police codes, pompiers types, ED motifs).

An OM match of 60,000 people thus brings, around the Vélodrome, about 54,000 extra people
present at kick-off (about half of them in the stadium's own cell), 15 extra police incidents from
3 hours before kick-off to 2 hours after the end, 18 extra ED arrivals 1–4 hours after the end
(¾ at La Timone), 18,000 metro boardings along line M2 before the match and 20,000 at the three
stations near the stadium after it.

Each feed reports, for every effect it applies, an :class:`EffectTruth`: the expected extra and
the expected baseline in the same window and area, hence the planted multiplier.

Example:
    >>> import numpy as np
    >>> Profile((0.0, 1.0, 2.0), (0.0, 1.0, 0.0)).level(np.array([0.0, 1.0]), 1.0).round(2)
    array([0.5, 0.5])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from belvedere.simulate.calendar import CONCERT, DEMONSTRATION, FESTIVAL, MATCH, SimEvent
from belvedere.simulate.clock import HOUR
from belvedere.simulate.geography import City
from belvedere.simulate.intensity import ZoneHourRate
from belvedere.simulate.parameters import CalendarParams

_SUBSAMPLES = 12


@dataclass(frozen=True)
class Profile:
    """A piecewise-linear time profile: ``weights`` at ``hours`` from the event's start."""

    hours: tuple[float, ...]
    weights: tuple[float, ...]

    @property
    def first(self) -> float:
        """Hours from the start where the effect begins (negative: before the start)."""
        return self.hours[0]

    @property
    def last(self) -> float:
        """Hours from the start where the effect ends."""
        return self.hours[-1]

    def level(self, offsets_h: np.ndarray, width_h: float) -> np.ndarray:
        """Mean level (peak = 1) over each bin ``[offset, offset + width_h)``."""
        sub = (np.arange(_SUBSAMPLES) + 0.5) / _SUBSAMPLES * width_h
        x = np.asarray(offsets_h, dtype=float)[..., None] + sub
        y = np.interp(x, self.hours, self.weights, left=0.0, right=0.0)
        return np.asarray(y.mean(axis=-1) / max(self.weights))

    def mass(self, offsets_h: np.ndarray, width_h: float) -> np.ndarray:
        """Share of the profile's total falling in each bin ``[offset, offset + width_h)``."""
        area = float(np.trapezoid(self.weights, self.hours))
        return self.level(offsets_h, width_h) * max(self.weights) * width_h / area

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` offsets in hours drawn from the profile as a density (minute resolution)."""
        edges = np.linspace(self.first, self.last, int(np.ceil((self.last - self.first) * 60)) + 1)
        density = np.interp((edges[:-1] + edges[1:]) / 2, self.hours, self.weights)
        cdf = np.cumsum(density) / density.sum()
        bins = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)
        return edges[bins] + rng.random(n) * (edges[1] - edges[0])


@dataclass(frozen=True)
class Effect:
    """One event kind's effect on one feed (see the module docstring for the units).

    ``radius_m`` cuts the spreading of presence and CCTV effects; ``truth_radius_m`` is the
    area (around the venue or route) over which :class:`EffectTruth` measures a spatial effect.
    """

    feed: str
    per_1000: float
    profile: Profile
    sigma_m: float = 0.0
    radius_m: float = 0.0
    truth_radius_m: float = 0.0
    sites: tuple[tuple[str, float], ...] = ()
    mix: tuple[tuple[str, float], ...] = ()

    def amount(self, event: SimEvent) -> float:
        """The effect's amount for this event (its attendance × ``per_1000`` / 1000)."""
        return event.attendance * self.per_1000 / 1000.0

    def weights(self, event: SimEvent, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Gaussian distance weights (1 at the venue or route), 0 beyond ``radius_m``."""
        d = event.distance_m(lat, lon)
        return np.where(d <= self.radius_m, np.exp(-0.5 * (d / self.sigma_m) ** 2), 0.0)

    def mix_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels and normalised shares of ``mix``."""
        labels = np.array([k for k, _ in self.mix])
        shares = np.array([v for _, v in self.mix], dtype=float)
        return labels, shares / shares.sum()

    def site_shares(self) -> dict[str, float]:
        """Normalised shares of ``sites``."""
        total = sum(v for _, v in self.sites)
        return {k: v / total for k, v in self.sites}


@dataclass(frozen=True)
class EffectTruth:
    """What one effect planted: expected extra vs expected baseline in its window and area."""

    event_id: str
    feed: str
    scope: str
    window_start_utc: int
    window_end_utc: int
    baseline_expected: float
    extra_expected: float

    @property
    def multiplier(self) -> float:
        """``(baseline + extra) / baseline`` (infinite when there is no baseline)."""
        if self.baseline_expected <= 0:
            return float("inf")
        return (self.baseline_expected + self.extra_expected) / self.baseline_expected


# A match ends 110 minutes after kick-off: the profiles are anchored on both.
_END = CalendarParams().match_minutes / 60
_MATCH_CROWD = Profile((-3.5, -3.0, -2.0, -1.0, 0.0, _END, _END + 0.5, _END + 1.0, _END + 2.0),
                       (0.0, 0.05, 0.25, 0.7, 1.0, 1.0, 0.6, 0.25, 0.0))
_MATCH_TROUBLE = Profile((-3.0, -1.5, 0.0, _END, _END + 0.67, _END + 2.0),
                         (0.0, 0.6, 1.0, 0.8, 1.2, 0.0))
_DEMO_CROWD = Profile((-1.0, -0.5, 0.0, 3.0, 3.5, 4.0), (0.0, 0.5, 1.0, 1.0, 0.3, 0.0))
_CONCERT_CROWD = Profile((-1.5, -0.5, 0.0, 2.5, 3.0, 3.5), (0.0, 0.7, 1.0, 1.0, 0.2, 0.0))
_FESTIVAL_CROWD = Profile((-1.0, 0.0, 2.0, 6.0, 7.0, 8.0), (0.0, 0.5, 1.0, 1.0, 0.3, 0.0))

EFFECTS: dict[str, tuple[Effect, ...]] = {
    MATCH: (
        Effect("mobile_presence", 900.0, _MATCH_CROWD, sigma_m=400.0, radius_m=1500.0,
               truth_radius_m=500.0),
        Effect("cctv", 40.0, _MATCH_CROWD, sigma_m=400.0, radius_m=1500.0, truth_radius_m=500.0),
        Effect("police_log", 0.25, _MATCH_TROUBLE, sigma_m=500.0, truth_radius_m=1000.0,
               mix=(("IVRESSE", 0.25), ("RIXE", 0.2), ("TROUBLE_OTP", 0.25),
                    ("VOL_SIMPLE", 0.15), ("DEGRADATION", 0.1), ("VIOLENCES", 0.05))),
        Effect("fire_ems", 0.05, _MATCH_TROUBLE, sigma_m=500.0, truth_radius_m=1000.0,
               mix=(("SAP", 0.8), ("ACCIDENT", 0.1), ("INCENDIE", 0.1))),
        Effect("hospital_ed", 0.3,
               Profile((_END, _END + 1.0, _END + 2.5, _END + 4.0), (0.0, 1.0, 0.7, 0.0)),
               sites=(("timone", 0.75), ("conception", 0.25)),
               mix=(("traumatologie", 0.4), ("intoxication", 0.35), ("malaise", 0.25))),
        Effect("transit", 300.0, Profile((-3.0, -1.5, -0.25), (0.0, 1.0, 0.0)),
               sites=(("saint_charles_m", 0.25), ("castellane", 0.2), ("noailles", 0.15),
                      ("notre_dame_du_mont", 0.1), ("joliette", 0.1), ("bougainville", 0.1),
                      ("rond_point_prado", 0.04), ("perier", 0.03), ("sainte_marguerite", 0.03))),
        Effect("transit", 330.0, Profile((_END - 0.1, _END + 0.4, _END + 1.4), (0.0, 1.0, 0.0)),
               sites=(("rond_point_prado", 0.5), ("sainte_marguerite", 0.35), ("perier", 0.15))),
    ),
    DEMONSTRATION: (
        Effect("mobile_presence", 800.0, _DEMO_CROWD, sigma_m=250.0, radius_m=800.0,
               truth_radius_m=500.0),
        Effect("cctv", 150.0, _DEMO_CROWD, sigma_m=200.0, radius_m=800.0, truth_radius_m=300.0),
        Effect("police_log", 0.6, Profile((-0.5, 0.0, 2.5, 3.5), (0.0, 0.5, 1.0, 0.0)),
               sigma_m=150.0, truth_radius_m=500.0,
               mix=(("TROUBLE_OTP", 0.5), ("DEGRADATION", 0.35), ("VIOLENCES", 0.15))),
    ),
    CONCERT: (
        Effect("mobile_presence", 900.0, _CONCERT_CROWD, sigma_m=300.0, radius_m=1000.0,
               truth_radius_m=500.0),
        Effect("cctv", 60.0, _CONCERT_CROWD, sigma_m=300.0, radius_m=800.0, truth_radius_m=300.0),
        Effect("police_log", 0.2, Profile((-1.0, 0.0, 2.5, 3.5), (0.0, 1.0, 1.0, 0.0)),
               sigma_m=300.0, truth_radius_m=1000.0,
               mix=(("IVRESSE", 0.4), ("TAPAGE", 0.3), ("VOL_SIMPLE", 0.3))),
        Effect("hospital_ed", 0.3, Profile((2.5, 3.5, 5.5), (0.0, 1.0, 0.0)),
               sites=(("conception", 0.6), ("timone", 0.4)),
               mix=(("intoxication", 0.6), ("malaise", 0.4))),
    ),
    FESTIVAL: (
        Effect("mobile_presence", 800.0, _FESTIVAL_CROWD, sigma_m=500.0, radius_m=1500.0,
               truth_radius_m=1000.0),
        Effect("cctv", 60.0, _FESTIVAL_CROWD, sigma_m=400.0, radius_m=1000.0, truth_radius_m=500.0),
        Effect("police_log", 0.3, _FESTIVAL_CROWD, sigma_m=400.0, truth_radius_m=1000.0,
               mix=(("IVRESSE", 0.35), ("VOL_SIMPLE", 0.35), ("RIXE", 0.15),
                    ("STUPEFIANTS", 0.15))),
        Effect("fire_ems", 0.15, _FESTIVAL_CROWD, sigma_m=400.0, truth_radius_m=1000.0,
               mix=(("SAP", 1.0),)),
        Effect("hospital_ed", 0.4, Profile((3.0, 7.0, 9.0), (0.0, 1.0, 0.0)),
               sites=(("timone", 0.5), ("conception", 0.5)),
               mix=(("intoxication", 0.6), ("traumatologie", 0.2), ("malaise", 0.2))),
    ),
}


def effects_on(events: list[SimEvent], feed: str) -> Iterator[tuple[SimEvent, Effect]]:
    """Every (event, effect) pair acting on ``feed``, in calendar order."""
    for event in events:
        for effect in EFFECTS[event.kind]:
            if effect.feed == feed:
                yield event, effect


def effect_window(event: SimEvent, effect: Effect) -> tuple[int, int]:
    """UTC seconds where the effect's profile is non-zero."""
    return (event.start_utc + int(effect.profile.first * HOUR),
            event.start_utc + int(effect.profile.last * HOUR))


def sample_event_points(rng: np.random.Generator, city: City, events: list[SimEvent], feed: str
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Extra point records planted by events on a point feed: ``(utc, lat, lon, label)``.

    The count is Poisson around the effect's amount; times follow the profile as a density;
    positions are Gaussian around the venue (or a uniform point of the route) and inside the
    city; labels are drawn from the effect's mix.
    """
    parts: list[tuple[np.ndarray, ...]] = []
    for event, effect in effects_on(events, feed):
        n = int(rng.poisson(effect.amount(event)))
        utc = event.start_utc + np.round(effect.profile.sample(rng, n) * HOUR).astype(np.int64)
        lat0, lon0 = event.anchors(rng, n)
        lat, lon = city.sample_near(rng, lat0, lon0, effect.sigma_m)
        labels, shares = effect.mix_arrays()
        parts.append((utc, lat, lon, rng.choice(labels, size=n, p=shares)))
    if not parts:
        return np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, dtype=str)
    utc, lat, lon, label = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    return utc, lat, lon, label


def point_truths(events: list[SimEvent], feed: str, rate: ZoneHourRate,
                 factor: float = 1.0) -> list[EffectTruth]:
    """Truth of the effects on a point feed: expected records within ``truth_radius_m`` of
    the venue or route during the effect's window, background (from ``rate``) vs extra.

    ``factor`` scales both (the police log's near-repeat offspring, 1/(1 − n)).
    """
    truths = []
    for event, effect in effects_on(events, feed):
        t0, t1 = effect_window(event, effect)
        near = rate.fraction_within(event.distance_m, effect.truth_radius_m)
        # The extra records are Gaussian around their anchor: their mass within the radius.
        mass = 1.0 - np.exp(-0.5 * (effect.truth_radius_m / effect.sigma_m) ** 2)
        truths.append(EffectTruth(event.event_id, feed, f"within {effect.truth_radius_m:.0f} m",
                                  t0, t1, rate.expected(t0, t1, near) * factor,
                                  float(effect.amount(event) * mass * factor)))
    return truths


def add_grid_effect(event: SimEvent, effect: Effect, offsets_h: np.ndarray, width_h: float,
                    weights: np.ndarray, extra: np.ndarray, *, density: bool,
                    base: np.ndarray, scope: np.ndarray, scope_name: str) -> EffectTruth:
    """Add one effect to a (time bins × columns) grid of expectations, in place.

    ``offsets_h`` are the bins' starts in hours from the event's start; ``weights`` the share
    of each column (cell, camera, station, hospital × motif). The time profile enters as a
    level (peak 1: people present, people counted) or, when ``density``, as the share of the
    total falling in each bin (boardings, arrivals). Returns the truth over the ``scope``
    columns and the bins the profile touches.
    """
    profile = effect.profile
    shape = profile.mass(offsets_h, width_h) if density else profile.level(offsets_h, width_h)
    rows = np.flatnonzero(shape > 0)
    added = effect.amount(event) * np.outer(shape[rows], weights)
    extra[rows] += added
    t0, t1 = effect_window(event, effect)
    return EffectTruth(event.event_id, effect.feed, scope_name, t0, t1,
                       float(base[np.ix_(rows, scope)].sum()), float(added[:, scope].sum()))


def effects_table() -> dict[str, list[dict[str, Any]]]:
    """The effects as plain data (for ``truth/parameters.json``)."""
    return {kind: [asdict(e) for e in effects] for kind, effects in EFFECTS.items()}
