"""The runaway feedback loop of predictive policing, and why belvedere refuses to feed it.

Ensign, Friedler, Neville, Scheidegger & Venkatasubramanian (2018), "Runaway feedback loops in
predictive policing", *Proceedings of FAT\\* 2018*: when patrols go where a model predicts most
incidents, and the incidents *discovered by those patrols* are fed back to the model, the model
learns where the patrols went. Two places with the same true rate end up with all the patrols
in one of them.

:func:`simulate_patrol_loop` reproduces it with belvedere's own counting forecaster: each day the
patrol goes to the place with the higher forecast; residents report a share of incidents
everywhere; the patrol discovers incidents where it is. Trained on everything (the naive set-up,
which :func:`belvedere.models.base.check_feedback` refuses), the allocation runs away; trained
without patrol discoveries (the guard), it stays balanced.

Example:
    >>> _, runaway = simulate_patrol_loop(days=200, guard=False, random_state=1)
    >>> _, guarded = simulate_patrol_loop(days=200, guard=True, random_state=1)
    >>> abs(runaway - 0.5) > 0.25 > abs(guarded - 0.5)
    True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from belvedere.models.base import PATROL, EventData
from belvedere.models.counting import NaiveCounting

# Two neighbouring cells of Marseille's centre, with the same true incident rate.
PLACES = np.array([618003056059482111, 618003056062889983], dtype=np.int64)  # sorted


def simulate_patrol_loop(*, days: int = 400, rate: float = 2.0, reported: float = 0.2,
                         discovered: float = 0.8, guard: bool = True,
                         random_state: int | None = None) -> tuple[float, float]:
    """``(patrol share, forecast share)`` of the first place over the last half of ``days``:
    how often the patrol went there, and its share of the forecast incidents (the truth: 0.5).

    Both places have ``rate`` incidents a day; residents report ``reported`` of them; a patrol
    discovers ``discovered`` of those in its place. Each day a naive counting forecast over the
    last 90 days, trained on all incidents (``guard=False``) or without patrol discoveries
    (``guard=True``), sends the patrol to the place with the higher forecast (ties: at random).
    """
    rng = np.random.default_rng(random_state)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    cells: list[int] = []
    times: list[datetime] = []
    origins: list[str] = []
    visits: list[int] = []
    shares: list[float] = []
    for day in range(days):
        now = t0 + timedelta(days=day)
        if cells:
            frame = pl.DataFrame({"cell": cells, "ts": times, "origin": origins})
            data = EventData.from_frame(frame, resolution=9, area=PLACES,
                                        propensity_weighted=not guard)
            if guard:
                data = data.without_patrol_discoveries()
            forecast = NaiveCounting(days=90).fit(data, until=now).predict(now, timedelta(days=1))
        else:
            forecast = np.zeros(2)
        shares.append(float(forecast[0] / forecast.sum()) if forecast.sum() else 0.5)
        best = np.flatnonzero(forecast == forecast.max())
        patrolled = int(rng.choice(best))
        visits.append(patrolled)
        for place in (0, 1):
            happened = rng.poisson(rate)
            seen_by_public = rng.binomial(happened, reported)
            seen_by_patrol = rng.binomial(happened - seen_by_public,
                                          discovered) if place == patrolled else 0
            for count, origin in ((seen_by_public, "reported_by_public"),
                                  (seen_by_patrol, PATROL)):
                cells.extend([int(PLACES[place])] * count)
                times.extend([now + timedelta(hours=12)] * count)
                origins.extend([origin] * count)
    half = days // 2
    return float((np.array(visits[half:]) == 0).mean()), float(np.mean(shares[half:]))
