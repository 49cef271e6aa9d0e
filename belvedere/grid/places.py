"""Named places of the synthetic Marseille: venues, hospitals, metro stations, CCTV cameras.

These are *sites*: fixed points that aggregate feeds are reported against (a camera's people
count, a station's boardings, a hospital's emergency-department arrivals) and where planned
events happen. Positions are approximate public locations (about 50 m), in WGS84.

Example:
    >>> VENUES["velodrome"].name
    'Stade Vélodrome'
    >>> sorted(HOSPITALS)[:1]
    ['conception']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Site:
    """A fixed point that a feed reports against.

    Attributes:
        site_id: stable identifier used in the feeds and the store.
        kind: ``venue``, ``hospital``, ``station``, ``camera``.
        name: human-readable name.
        lat, lon: WGS84 position.
        code: the identifier the source itself uses (FINESS number, GTFS stop_id…), if any.
        lines: for stations, the metro lines served.
    """

    site_id: str
    kind: str
    name: str
    lat: float
    lon: float
    code: str = ""
    lines: tuple[str, ...] = ()


def _index(sites: list[Site]) -> dict[str, Site]:
    return {s.site_id: s for s in sites}


VENUES: dict[str, Site] = _index(
    [
        Site("velodrome", "venue", "Stade Vélodrome", 43.2698, 5.3959),
        Site("vieux_port", "venue", "Vieux-Port", 43.2951, 5.3740),
        Site("canebiere", "venue", "La Canebière", 43.2975, 5.3810),
        Site("saint_charles", "venue", "Gare Saint-Charles", 43.3026, 5.3806),
        Site("le_dome", "venue", "Le Dôme", 43.3067, 5.3968),
        Site("plages_prado", "venue", "Plages du Prado", 43.2610, 5.3745),
    ]
)

HOSPITALS: dict[str, Site] = _index(
    [
        Site("timone", "hospital", "Hôpital de la Timone", 43.2897, 5.4024, code="130783293"),
        Site("nord", "hospital", "Hôpital Nord", 43.3797, 5.3650, code="130783236"),
        Site("conception", "hospital", "Hôpital de la Conception", 43.2921, 5.3923,
             code="130783228"),
    ]
)

STATIONS: dict[str, Site] = _index(
    [
        Site("rond_point_prado", "station", "Rond-Point du Prado", 43.2713, 5.3953, "M2-RPP",
             ("M2",)),
        Site("sainte_marguerite", "station", "Sainte-Marguerite Dromel", 43.2628, 5.4000,
             "M2-SMD", ("M2",)),
        Site("perier", "station", "Périer", 43.2783, 5.3886, "M2-PER", ("M2",)),
        Site("castellane", "station", "Castellane", 43.2859, 5.3836, "M1-CAS", ("M1", "M2")),
        Site("notre_dame_du_mont", "station", "Notre-Dame-du-Mont", 43.2915, 5.3856, "M2-NDM",
             ("M2",)),
        Site("noailles", "station", "Noailles", 43.2973, 5.3836, "M2-NOA", ("M2",)),
        Site("vieux_port_m1", "station", "Vieux-Port", 43.2962, 5.3747, "M1-VPO", ("M1",)),
        Site("saint_charles_m", "station", "Saint-Charles", 43.3025, 5.3807, "M1-STC",
             ("M1", "M2")),
        Site("joliette", "station", "Joliette", 43.3047, 5.3665, "M2-JOL", ("M2",)),
        Site("la_timone", "station", "La Timone", 43.2869, 5.4010, "M1-TIM", ("M1",)),
        Site("la_rose", "station", "La Rose", 43.3332, 5.4278, "M1-ROS", ("M1",)),
        Site("bougainville", "station", "Bougainville", 43.3251, 5.3593, "M2-BOU", ("M2",)),
    ]
)

# Cameras stand where crowds gather: around venues and stations, plus a few streets.
CAMERAS: dict[str, Site] = _index(
    [
        Site("cam-velodrome-n", "camera", "Vélodrome — virage Nord", 43.2722, 5.3951),
        Site("cam-velodrome-s", "camera", "Vélodrome — virage Sud", 43.2672, 5.3966),
        Site("cam-velodrome-parvis", "camera", "Vélodrome — parvis Jean-Bouin", 43.2703, 5.3935),
        Site("cam-prado-rp", "camera", "Rond-Point du Prado", 43.2715, 5.3958),
        Site("cam-vieux-port-quai", "camera", "Vieux-Port — quai des Belges", 43.2953, 5.3744),
        Site("cam-vieux-port-ombriere", "camera", "Vieux-Port — Ombrière", 43.2949, 5.3736),
        Site("cam-canebiere-haut", "camera", "Canebière — Réformés", 43.2991, 5.3853),
        Site("cam-canebiere-bas", "camera", "Canebière — Bourse", 43.2968, 5.3782),
        Site("cam-noailles", "camera", "Noailles — marché", 43.2966, 5.3830),
        Site("cam-saint-charles", "camera", "Gare Saint-Charles — escaliers", 43.3022, 5.3798),
        Site("cam-castellane", "camera", "Place Castellane", 43.2861, 5.3838),
        Site("cam-dome", "camera", "Le Dôme — parvis", 43.3069, 5.3962),
        Site("cam-joliette", "camera", "Joliette — Docks", 43.3050, 5.3672),
        Site("cam-prado-plage", "camera", "Plages du Prado — David", 43.2618, 5.3750),
        Site("cam-cours-julien", "camera", "Cours Julien", 43.2937, 5.3838),
        Site("cam-la-rose", "camera", "La Rose — pôle d'échanges", 43.3330, 5.4275),
    ]
)

ALL_SITES: dict[str, Site] = {**VENUES, **HOSPITALS, **STATIONS, **CAMERAS}
