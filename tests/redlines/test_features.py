"""Red line "place-based only", for models: no socio-demographic attribute of residents is ever a
model feature (DESIGN.md §3) — checked on the features actually built from the simulated city,
on every feed a model may read, and by the guard that refuses such a feature; and the
cross-source models forecast per cell and explain themselves without naming a person."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from belvedere.errors import ConfigError
from belvedere.models.anomalies import FEEDS
from belvedere.models.boosting import BoostedForecaster
from belvedere.models.data import CROSS_SOURCE_METRICS, load_event_data
from belvedere.models.ensemble import EnsembleForecaster
from belvedere.models.etas import GridETAS
from belvedere.models.features import SOCIO_DEMOGRAPHIC, check_feature_names
from belvedere.privacy.redlines import person_findings
from belvedere.store.duckdb import DuckDBStore


def socio_demographic(name: str) -> bool:
    """Whether a name holds a word of a residents' attribute (population, income, age…)."""
    words = set(name.lower().replace("-", "_").split("_"))
    return bool(words & set(SOCIO_DEMOGRAPHIC))


def test_no_feature_built_on_the_simulated_city_describes_residents(
        city_store: DuckDBStore) -> None:
    data = load_event_data(city_store).without_patrol_discoveries()
    # The city's other feeds are all there: the features really see them.
    assert set(data.covariates) == {"crowd_count", "boardings", "ed_arrivals", "people_count"}
    end = city_store.data_period()[1]  # type: ignore[index]
    until = end - timedelta(days=1)
    boosted = BoostedForecaster(horizon_days=1, training_windows=6, n_estimators=20,
                                categories_top=3)
    model = EnsembleForecaster(members={"boosted": boosted, "etas": GridETAS()}).fit(
        data, until=until)
    names = boosted.feature_names_
    assert len(names) > 40 and {"cov_crowd_count_last1", "planned_attendance"} <= set(names)
    assert [n for n in names if socio_demographic(n)] == []
    scores = model.predict(until, timedelta(days=1))
    assert scores.shape == (len(data.area),) and np.isfinite(scores).all()
    assert person_findings(model.explain()) == []


def test_no_feed_a_model_reads_is_an_attribute_of_residents() -> None:
    feeds = [*CROSS_SOURCE_METRICS, *(f.metric for f in FEEDS), *(f.name for f in FEEDS)]
    assert [f for f in feeds if socio_demographic(f)] == []


@pytest.mark.parametrize("feed", ["population", "median_income", "share_unemployed",
                                  "households", "age_65_plus"])
def test_a_covariate_describing_residents_is_refused(city_store: DuckDBStore,
                                                     feed: str) -> None:
    data = load_event_data(city_store, covariates=False).without_patrol_discoveries()
    cells = data.area[:50]
    frame = pl.DataFrame({"cell": cells, "ts": [data.events["ts"].min()] * len(cells),
                          "value": np.ones(len(cells))})
    with_residents = replace(data, covariates={feed: frame})
    end = city_store.data_period()[1]  # type: ignore[index]
    with pytest.raises(ConfigError, match="never model features"):
        BoostedForecaster(horizon_days=1, training_windows=2, n_estimators=5).fit(
            with_residents, until=end - timedelta(days=1))


def test_the_guard_leaves_place_features_alone() -> None:
    check_feature_names(["count_lag1", "ring2_cov_crowd_count_last4", "average_page",
                         "planned_attendance", "cov_ed_arrivals_last1", "windows_since_last"])
    with pytest.raises(ConfigError):
        check_feature_names(["cov_population_density_last1"])
