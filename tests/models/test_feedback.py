"""The runaway feedback loop (Ensign et al. 2018) appears without the guard, not with it; and
the guard refuses to train on patrol discoveries without propensity weights."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from belvedere.models.base import PATROL, EventData, FeedbackLoopRisk
from belvedere.models.counting import NaiveCounting
from belvedere.models.feedback import PLACES, simulate_patrol_loop


def test_training_on_patrol_discoveries_without_propensity_weights_is_refused() -> None:
    frame = pl.DataFrame({"cell": [int(PLACES[0])] * 3,
                          "ts": [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
                          "origin": ["reported_by_public", PATROL, PATROL]})
    data = EventData.from_frame(frame, resolution=9, area=PLACES)
    with pytest.raises(FeedbackLoopRisk, match="2 training incidents were discovered by patrols"):
        NaiveCounting().fit(data, until=datetime(2024, 2, 1, tzinfo=UTC))
    NaiveCounting().fit(data.without_patrol_discoveries(), until=datetime(2024, 2, 1, tzinfo=UTC))


def test_the_naive_loop_runs_away_and_the_guard_keeps_the_forecast_near_the_truth() -> None:
    naive = [simulate_patrol_loop(days=200, guard=False, random_state=s)[1] for s in range(5)]
    guarded = [simulate_patrol_loop(days=200, guard=True, random_state=s)[1] for s in range(5)]
    # Both places have the same true rate: the honest share of each is 0.5.
    assert min(abs(np.array(naive) - 0.5)) > 0.3, naive
    assert max(abs(np.array(guarded) - 0.5)) < 0.2, guarded
