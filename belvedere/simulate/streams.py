"""Independent, reproducible random streams, one per feed.

Every feed draws from its own generator, derived from the run's seed and the stream's fixed
position in :data:`STREAMS` (``SeedSequence(seed, spawn_key=…)``), so adding draws to one feed
never changes another, and the same seed always gives the same files. Extra integer keys give
sub-streams, e.g. one per season so that a match schedule does not depend on where the period
starts.

The city's geography (resident density, hotspots) uses :data:`CITY_SEED`, not the run's seed:
the city is the same in every run; only its history changes.

Example:
    >>> int(stream(42, "police_log").integers(1000)) == int(stream(42, "police_log").integers(1000))
    True
"""

from __future__ import annotations

import numpy as np

from belvedere.errors import ConfigError

STREAMS = (
    "geography",
    "calendar",
    "anomalies",
    "police_log",
    "fire_ems",
    "field_reports",
    "cctv",
    "mobile_presence",
    "transit",
    "hospital_ed",
    "expected",  # Monte Carlo integration of the truth (belvedere.simulate.expected)
)
CITY_SEED = 13055  # Marseille's INSEE commune code


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """The generator of stream ``name`` (and sub-stream ``keys``) for ``seed``."""
    if seed < 0:
        raise ConfigError(f"the seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(STREAMS.index(name), *keys))
    )


def draw_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One column index per row of a (rows × choices) probability matrix, in bulk."""
    cum = np.cumsum(probabilities, axis=1)
    picks = (rng.random(len(cum))[:, None] > cum).sum(axis=1)
    return np.minimum(picks, cum.shape[1] - 1)
