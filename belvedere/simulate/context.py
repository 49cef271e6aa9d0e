"""What every feed simulator receives: the run's seed, period, parameters, city and calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from belvedere.simulate.anomalies import Anomaly
from belvedere.simulate.calendar import SimEvent
from belvedere.simulate.clock import Period
from belvedere.simulate.geography import City
from belvedere.simulate.parameters import Parameters
from belvedere.simulate.streams import stream


@dataclass(frozen=True, eq=False)
class SimContext:
    """The shared inputs of one simulation run."""

    seed: int
    period: Period
    params: Parameters
    city: City
    events: list[SimEvent]
    anomalies: list[Anomaly]

    def rng(self, feed: str, *keys: int) -> np.random.Generator:
        """The feed's own random stream (see :mod:`belvedere.simulate.streams`)."""
        return stream(self.seed, feed, *keys)

    def anomalies_of(self, kind: str) -> list[Anomaly]:
        """The planted anomalies of one kind."""
        return [a for a in self.anomalies if a.kind == kind]
