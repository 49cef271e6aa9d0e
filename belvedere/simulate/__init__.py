"""A synthetic Marseille that writes every feed in its native format, with its ground truth.

``simulate_city(out, days=90, seed=42)`` writes the folders of docs/feeds.md — ``police/``,
``cctv/``, ``pompiers/``, ``agents/``, ``operateur/``, ``transports/``, ``hopitaux/``,
``evenements/`` — and ``truth/``, deterministically (same seed, days and start → the same
bytes) and in a few seconds.

The generative model, module by module:

- :mod:`~belvedere.simulate.geography` — the fixed city: arrondissements, H3 res-8 cells with
  residents, natural areas, incident hotspots;
- :mod:`~belvedere.simulate.calendar` — OM's real home fixtures (packaged) or a plausible
  schedule, demonstrations on the Canebière, concerts at Le Dôme, the Prado beach festival;
- :mod:`~belvedere.simulate.intensity` — the police log's background intensity (arrondissement ×
  hour of week × season) and near-repeat self-excitation;
- :mod:`~belvedere.simulate.effects` — how each planned event changes each feed, in time and
  space, and the truth of what was planted;
- :mod:`~belvedere.simulate.anomalies` — labelled anomalies with no event behind them;
- one module per feed: :mod:`~belvedere.simulate.police`, :mod:`~belvedere.simulate.pompiers`,
  :mod:`~belvedere.simulate.agents`, :mod:`~belvedere.simulate.cctv`,
  :mod:`~belvedere.simulate.presence`, :mod:`~belvedere.simulate.transit`,
  :mod:`~belvedere.simulate.hospitals` (and the calendar's own writer);
- :mod:`~belvedere.simulate.truth` — ``truth/``; :mod:`~belvedere.simulate.parameters` — every
  number; :mod:`~belvedere.simulate.streams`, :mod:`~belvedere.simulate.clock`,
  :mod:`~belvedere.simulate.geo`, :mod:`~belvedere.simulate.writers` — shared plumbing.
"""

from belvedere.simulate.city import DEFAULT_START, SimulationSummary, simulate_city

__all__ = ["DEFAULT_START", "SimulationSummary", "simulate_city"]
