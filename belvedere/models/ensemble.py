"""④ Ensemble: a weighted average of member forecasters' expected counts.

Each member is fitted on the same data with the same ``until`` (so each sees only what came
before it), then the ensemble's forecast is Σ wₘ · forecastₘ with weights normalised to sum to 1
(equal when none are given). The ensemble's negative-binomial ``dispersion_`` for
:meth:`predict_interval` is the weighted mean of the members' (0 for Poisson members): a simple,
documented approximation, not the dispersion of the mixture.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster


class EnsembleForecaster(GridForecaster):
    """Weighted average of ``members``' expected counts.

    Args:
        members: the forecasters, by name (fitted by :meth:`fit`, in place).
        weights: non-negative weight per member name (normalised); ``None`` → equal weights.
    """

    def __init__(self, *, members: Mapping[str, GridForecaster],
                 weights: Mapping[str, float] | None = None) -> None:
        self.members = members
        self.weights = weights

    def _normalised_weights(self) -> dict[str, float]:
        if not self.members:
            raise ConfigError("an ensemble needs at least one member forecaster")
        if self.weights is None:
            return {name: 1.0 / len(self.members) for name in self.members}
        unknown = set(self.weights) - set(self.members)
        missing = set(self.members) - set(self.weights)
        if unknown or missing:
            raise ConfigError(f"ensemble weights must name exactly the members "
                              f"{sorted(self.members)} (unknown: {sorted(unknown)}, "
                              f"missing: {sorted(missing)})")
        values = np.array([float(self.weights[name]) for name in self.members])
        if not np.all(np.isfinite(values)) or (values < 0).any() or values.sum() <= 0:
            raise ConfigError("ensemble weights must be ≥ 0 with a positive sum, "
                              f"got {self.weights}")
        shares = values / values.sum()
        return {name: float(v) for name, v in zip(self.members, shares, strict=True)}

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.weights_ = self._normalised_weights()
        for member in self.members.values():
            member.fit(data, until=until)
        self.dispersion_ = float(sum(
            self.weights_[name] * float(getattr(member, "dispersion_", 0.0) or 0.0)
            for name, member in self.members.items()))

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        out = np.zeros(len(self.area_))
        for name, member in self.members.items():
            out += self.weights_[name] * member.predict(start, horizon)
        return out

    def explain(self) -> dict[str, Any]:
        """The members' (normalised) weights and their own explanations."""
        weights = getattr(self, "weights_", None) or self._normalised_weights()
        return {"model": "ensemble", "weights": dict(weights),
                "members": {name: member.explain() for name, member in self.members.items()}}
