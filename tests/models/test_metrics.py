"""The field's metrics against values computed by hand on tiny arrays."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from belvedere.errors import ConfigError
from belvedere.models import metrics
from belvedere.models.metrics import (
    AREA_FRACTIONS,
    bootstrap_mean,
    calibration,
    cells_for,
    hit_rate,
    hit_rate_curve,
    pai,
    pei_star,
    poisson_log_likelihood,
    window_metrics,
)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(metrics)
    assert result.attempted >= 20
    assert result.failed == 0


def test_area_fractions_are_the_fields_shares() -> None:
    assert AREA_FRACTIONS == (0.005, 0.01, 0.02, 0.05, 0.10)


@pytest.mark.parametrize(("fraction", "n", "k"), [
    (0.01, 100, 1), (0.01, 101, 2), (0.07, 100, 7), (0.10, 10, 1), (0.05, 30, 2),
    (0.005, 37, 1), (1.0, 5, 5), (0.2, 5, 1), (0.21, 5, 2),
])
def test_cells_for_takes_the_ceiling_of_the_share_with_at_least_one_cell(
        fraction: float, n: int, k: int) -> None:
    assert cells_for(fraction, n) == k


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_cells_for_refuses_shares_outside_zero_one(fraction: float) -> None:
    with pytest.raises(ConfigError):
        cells_for(fraction, 10)


def test_hit_rate_counts_events_in_the_top_cells() -> None:
    scores = np.array([0.5, 3.0, 1.0, 2.0, 0.0])
    observed = np.array([1.0, 4.0, 0.0, 3.0, 2.0])  # 10 events
    assert hit_rate(scores, observed, 0.2) == pytest.approx(0.4)   # cell 1
    assert hit_rate(scores, observed, 0.4) == pytest.approx(0.7)   # cells 1, 3
    assert hit_rate(scores, observed, 0.6) == pytest.approx(0.7)   # + cell 2 (empty)
    assert hit_rate(scores, observed, 1.0) == pytest.approx(1.0)


def test_hit_rate_breaks_ties_by_cell_order() -> None:
    scores = np.array([1.0, 2.0, 2.0, 2.0])
    observed = np.array([5.0, 0.0, 0.0, 5.0])
    # k = 2: the tied cells 1 and 2 come before cell 3, so cell 3's events are missed.
    assert hit_rate(scores, observed, 0.5) == 0.0
    assert hit_rate(scores, observed, 0.75) == 0.5
    assert hit_rate(scores[::-1].copy(), observed[::-1].copy(), 0.5) == 0.5


def test_hit_rate_rounds_the_area_share_up_to_whole_cells() -> None:
    scores = np.arange(10, 0, -1, dtype=float)
    observed = np.ones(10)
    assert hit_rate(scores, observed, 0.10) == pytest.approx(0.1)  # 1 cell
    assert hit_rate(scores, observed, 0.11) == pytest.approx(0.2)  # ceil(1.1) = 2 cells
    assert hit_rate(scores, observed, 0.005) == pytest.approx(0.1)  # at least 1 cell


def test_ranking_metrics_are_nan_without_events() -> None:
    scores, observed = np.array([1.0, 2.0]), np.zeros(2)
    assert math.isnan(hit_rate(scores, observed, 0.5))
    assert math.isnan(pai(scores, observed, 0.5))
    assert math.isnan(pei_star(scores, observed, 0.5))
    assert np.isnan(hit_rate_curve(scores, observed, [0.5, 1.0])).all()


def test_pai_divides_by_the_share_actually_covered() -> None:
    scores = np.array([0.5, 3.0, 1.0, 2.0, 0.0])
    observed = np.array([1.0, 4.0, 0.0, 3.0, 2.0])
    assert pai(scores, observed, 0.2) == pytest.approx(0.4 / 0.2)
    # 1 % of 5 cells is still one cell, i.e. 20 % of the area.
    assert pai(scores, observed, 0.01) == pytest.approx(2.0)
    assert pai(scores, observed, 0.4) == pytest.approx(0.7 / 0.4)
    assert pai(scores, observed, 1.0) == pytest.approx(1.0)


def test_pai_of_a_uniform_score_is_one_in_expectation() -> None:
    # Constant scores take the first k cells; over every cyclic shift of the counts each cell is
    # in the top k equally often, so the mean PAI is exactly 1.
    observed = np.array([0.0, 3.0, 1.0, 0.0, 7.0, 2.0, 0.0, 0.0, 1.0, 4.0, 0.0, 2.0])
    flat = np.ones_like(observed)
    for fraction in (0.05, 0.1, 0.25, 0.5):
        values = [pai(flat, np.roll(observed, s), fraction) for s in range(len(observed))]
        assert np.mean(values) == pytest.approx(1.0)


def test_pei_star_is_one_for_the_oracle_and_a_ratio_otherwise() -> None:
    observed = np.array([1.0, 3.0, 0.0, 6.0, 2.0])
    for fraction in (0.2, 0.4, 0.6, 1.0):
        assert pei_star(observed, observed, fraction) == pytest.approx(1.0)
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert pei_star(scores, observed, 0.2) == pytest.approx(1 / 6)   # cell 0 vs cell 3
    assert pei_star(scores, observed, 0.4) == pytest.approx(4 / 9)   # cells 0,1 vs 3,1
    assert pei_star(scores, observed, 1.0) == pytest.approx(1.0)


def test_poisson_log_likelihood_matches_hand_values() -> None:
    mu, y = np.array([1.0, 2.0, 0.5]), np.array([0.0, 3.0, 1.0])
    by_hand = (-1.0) + (3 * math.log(2) - 2 - math.log(6)) + (math.log(0.5) - 0.5)
    assert poisson_log_likelihood(mu, y) == pytest.approx(by_hand)
    assert poisson_log_likelihood(mu, y, per_cell=True) == pytest.approx(by_hand / 3)


def test_poisson_log_likelihood_floors_zero_forecasts() -> None:
    assert poisson_log_likelihood(np.zeros(1), np.zeros(1)) == pytest.approx(-1e-9)
    assert poisson_log_likelihood(np.zeros(1), np.ones(1)) == pytest.approx(math.log(1e-9))


def test_calibration_averages_by_quantile_bin_of_the_forecast() -> None:
    mu = np.array([0.1, 0.4, 0.2, 0.3, 0.9, 0.6])
    y = np.array([0.0, 1.0, 0.0, 0.0, 2.0, 1.0])
    table = calibration(mu, y, bins=3)
    assert table.columns == ["bin", "cells", "mean_expected", "mean_observed"]
    assert table["cells"].to_list() == [2, 2, 2]
    assert table["mean_expected"].to_list() == pytest.approx([0.15, 0.35, 0.75])
    assert table["mean_observed"].to_list() == pytest.approx([0.0, 0.5, 1.5])


def test_calibration_drops_empty_bins() -> None:
    table = calibration(np.array([1.0, 2.0]), np.array([1.0, 1.0]), bins=10)
    assert table["cells"].to_list() == [1, 1]


def test_window_metrics_has_every_metric_at_every_share() -> None:
    m = window_metrics(np.array([0.2, 0.9, 0.1, 0.4]), np.array([1.0, 6.0, 0.0, 3.0]))
    for label in ("0.5%", "1%", "2%", "5%", "10%"):
        assert {f"hit@{label}", f"pai@{label}", f"pei*@{label}"} <= set(m)
    assert list(m)[-4:] == ["loglik", "loglik_per_cell", "observed_total", "expected_total"]
    assert m["hit@1%"] == pytest.approx(0.6)
    assert m["pai@1%"] == pytest.approx(2.4)
    assert m["pei*@1%"] == pytest.approx(1.0)
    assert m["observed_total"] == 10.0
    assert m["expected_total"] == pytest.approx(1.6)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ConfigError):
        window_metrics(np.ones(3), np.ones(4))


def test_bootstrap_mean_is_deterministic_under_random_state() -> None:
    values = np.array([0.3, 1.2, 0.7, 2.5, 0.1, 0.9, 1.8])
    first = bootstrap_mean(values, random_state=7)
    assert bootstrap_mean(values, random_state=7) == first
    assert bootstrap_mean(values, random_state=8) != first
    mean, low, high = first
    assert mean == pytest.approx(values.mean())
    assert low < mean < high


def test_bootstrap_mean_skips_nan_and_handles_degenerate_input() -> None:
    assert bootstrap_mean([1.0, np.nan, 3.0], reps=200)[0] == 2.0
    assert all(math.isnan(v) for v in bootstrap_mean([np.nan]))
    mean, low, high = bootstrap_mean([0.1, 0.1, 0.1])
    assert low <= mean <= high
