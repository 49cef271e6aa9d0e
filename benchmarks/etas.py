"""The ETAS forecaster's fit at the scale of a city's year, against naive counting.

Run: ``.venv/bin/python benchmarks/etas.py`` (``--repeat 3``).

The history is the one ``tests/models/test_etas.py`` checks for correctness: about 30,000
incidents over a year in about 6,000 H3 cells (gamma-skewed background rates, self-exciting
repeats with branching ratio 0.3). Printed: the wall time of ``GridETAS.fit`` (median of the
repeats), and its ratio to the fit of the naive counting model on the same data in the same run
— the reference, so that a loaded machine moves both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import h3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from belvedere.models.etas import GridETAS
from belvedere.models.registry import forecaster
from tests.models.test_etas import CENTRE, at, simulate, to_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(2015)
    area = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 45)), dtype=np.int64)
    mu = rng.gamma(0.5, 0.0096 / 0.5, size=len(area))
    days, index = simulate(mu, 0.3, 0.3, -60.0, 365.0, rng)
    data = to_data(days, index, area)

    def timed(make: object) -> float:
        times = []
        for _ in range(args.repeat):
            model = make()  # type: ignore[operator]
            began = time.perf_counter()
            model.fit(data, until=at(365))
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    etas = timed(GridETAS)
    naive = timed(lambda: forecaster("naive", horizon_days=7))
    print(f"{len(days):,} incidents, {len(area):,} cells, median of {args.repeat}")
    print(f"GridETAS fit   {etas:8.3f} s")
    print(f"naive fit      {naive:8.3f} s   (reference, same run)")
    print(f"ratio          {etas / naive:8.1f} ×")


if __name__ == "__main__":
    main()
