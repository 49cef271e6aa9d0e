"""Large police-log exports in the native format, fast, for benchmarks and robustness tests.

The city simulator (:mod:`belvedere.simulate.city`) models a realistic day; this writes millions
of plausible rows in seconds (vectorised), to measure ingest and to crash it on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

NATURE_CODES = ("ACCIDENT_CIRC", "CAMBRIOLAGE", "DEGRADATION", "IVRESSE", "RIXE", "STUPEFIANTS",
                "TAPAGE", "TROUBLE_OTP", "VIOLENCES", "VOL_SIMPLE", "VOL_VIOLENCE")


def write_police_log(path: Path, rows: int, *, seed: int = 1, first_id: int = 0) -> None:
    """Write ``rows`` police-log rows (``;``, decimal commas, ``dd/mm/yyyy HH:MM``, CRLF).

    Points scatter around the centre of Marseille, so a few percent fall in the sea and are
    quarantined by the connector (``outside_area``); each row names an officer (``agent``) and
    carries a short narrative, as real exports do. Ids run from ``first_id``.
    """
    rng = np.random.default_rng(seed)
    lat = rng.normal(43.300, 0.02, rows)
    lon = rng.normal(5.400, 0.02, rows)
    minutes = rng.integers(0, 365 * 24 * 60, rows)
    ts = pl.Series((np.datetime64("2024-01-01T00:00") + minutes.astype("timedelta64[m]"))
                   .astype("datetime64[ms]"))
    codes = np.array(NATURE_CODES)

    def decimal_comma(values: np.ndarray) -> pl.Series:
        return pl.Series(np.round(values, 5)).cast(pl.String).str.replace(".", ",", literal=True)

    pl.DataFrame({
        "numero_fiche": ("MC-" + pl.Series(np.arange(first_id, first_id + rows))
                         .cast(pl.String).str.zfill(8)),
        "date_heure": ts.dt.strftime("%d/%m/%Y %H:%M"),
        "adresse": "1 rue de la République, 13002 Marseille",
        "latitude": decimal_comma(lat),
        "longitude": decimal_comma(lon),
        "code_nature": codes[rng.integers(0, len(codes), rows)],
        "libelle_nature": "libellé",
        "origine": "appel_public",
        "gravite": rng.integers(1, 4, rows).astype(str),
        "agent": pl.Series(rng.integers(0, 400, rows)).cast(pl.String).str.zfill(4),
        "recit": "Requérant signale des faits.",
    }).write_csv(path, separator=";", line_terminator="\r\n")
