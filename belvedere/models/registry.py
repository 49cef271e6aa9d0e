"""The forecasters belvedere ships, by name, with the hyper-parameters it uses by default.

Defaults were chosen on Toronto's 2019 weeks (``benchmarks/forecast_toronto.py --tune``), never
on the weeks a benchmark reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from belvedere.errors import ConfigError
from belvedere.models.base import GridForecaster
from belvedere.models.boosting import BoostedForecaster
from belvedere.models.counting import NaiveCounting, RecentCounting
from belvedere.models.ensemble import EnsembleForecaster
from belvedere.models.etas import GridETAS
from belvedere.models.hotspot import ProspectiveHotspot, RetrospectiveKDE

Factory = Callable[[], GridForecaster]


def forecasters(*, horizon_days: int = 7, **overrides: dict[str, Any]) -> dict[str, Factory]:
    """Fresh-forecaster factories by name; ``overrides[name]`` replaces default parameters."""

    def params(name: str, **defaults: Any) -> dict[str, Any]:
        return {**defaults, **overrides.get(name, {})}

    def ensemble() -> GridForecaster:
        return EnsembleForecaster(members={
            "boosted": BoostedForecaster(**params("boosted", horizon_days=horizon_days)),
            "etas": GridETAS(**params("etas")),
            "kde": RetrospectiveKDE(**params("kde", bandwidth_rings=1)),
        })

    return {
        "naive": lambda: NaiveCounting(**params("naive", days=365)),
        "recent": lambda: RecentCounting(**params("recent", days=28)),
        "kde": lambda: RetrospectiveKDE(**params("kde", bandwidth_rings=1)),
        "prospective": lambda: ProspectiveHotspot(**params("prospective")),
        "etas": lambda: GridETAS(**params("etas")),
        "boosted": lambda: BoostedForecaster(
            **params("boosted", horizon_days=horizon_days)),
        "ensemble": ensemble,
    }


def forecaster(name: str, *, horizon_days: int = 7) -> GridForecaster:
    """One fresh forecaster by name; :class:`ConfigError` listing the names otherwise."""
    known = forecasters(horizon_days=horizon_days)
    if name not in known:
        raise ConfigError(f"unknown model {name!r}; models: {', '.join(known)}")
    return known[name]()
