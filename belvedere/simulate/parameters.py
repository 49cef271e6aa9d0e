"""Every rate, share and multiplier of the synthetic city, in one place.

The simulator reads its numbers from :class:`Parameters` only, and writes them all to
``truth/parameters.json`` (with the event effects of :mod:`belvedere.simulate.effects`), so
that a model's estimates can be compared with the values that generated the data.

Hourly tables have 24 entries indexed by the local hour; they are relative shapes, normalised
where they are used. Shares are normalised too.

Example:
    >>> p = Parameters()
    >>> p.police.branching_ratio
    0.2
    >>> sorted(p.as_dict())[:3]
    ['agents', 'anomalies', 'calendar']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Hourly = tuple[float, ...]
Shares = dict[str, float]


@dataclass(frozen=True)
class NaturalArea:
    """A box of sparsely inhabited land (massif, islands) whose cells hold few residents."""

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float


@dataclass(frozen=True)
class GeographyParams:
    """The fixed synthetic city: where residents live, where incidents concentrate."""

    presence_resolution: int = 8
    resident_heterogeneity_sigma: float = 0.6  # lognormal spread of residents between cells
    natural_area_factor: float = 0.01  # residents of a natural-area cell relative to others
    natural_areas: tuple[NaturalArea, ...] = (
        NaturalArea("Frioul", 43.25, 43.30, 5.27, 5.335),
        NaturalArea("Calanques", 43.18, 43.232, 5.34, 5.57),
        NaturalArea("Étoile", 43.368, 43.40, 5.34, 5.47),
        NaturalArea("Carpiagne", 43.23, 43.28, 5.49, 5.57),
    )
    hotspots_per_zone: int = 3
    hotspot_jitter_m: float = 200.0
    cell_disc_radius_m: float = 460.0  # ≈ edge of an H3 res-8 cell


@dataclass(frozen=True)
class PoliceParams:
    """Police log: background intensity, near-repeat triggering, marks."""

    background_daily: float = 250.0  # immigrant incidents per day, whole city, mean over week
    centre_boost: Shares = field(
        default_factory=lambda: {"13201": 2.2, "13202": 1.5, "13203": 1.5}
    )
    hourly: Hourly = (0.9, 0.75, 0.6, 0.45, 0.3, 0.25, 0.35, 0.55, 0.75, 0.85, 0.95, 1.0,
                      1.05, 1.0, 1.0, 1.05, 1.15, 1.3, 1.45, 1.55, 1.6, 1.55, 1.35, 1.1)
    weekday: tuple[float, ...] = (0.96, 0.96, 0.96, 1.0, 1.06, 1.08, 0.98)  # Monday first
    weekend_night_boost: float = 1.35  # Friday and Saturday 20h–03h
    seasonal_amplitude: float = 0.08
    seasonal_peak_day: int = 196  # mid-July
    hotspot_share: float = 0.5
    hotspot_sigma_m: float = 150.0
    branching_ratio: float = 0.2
    offspring_delay_mean_h: float = 4.0
    offspring_sigma_m: float = 120.0
    offspring_keep_category: float = 0.7
    max_generations: int = 8
    categories_day: Shares = field(default_factory=lambda: {
        "VOL_SIMPLE": 0.22, "VOL_VIOLENCE": 0.06, "CAMBRIOLAGE": 0.08, "VIOLENCES": 0.07,
        "RIXE": 0.02, "DEGRADATION": 0.08, "TROUBLE_OTP": 0.08, "TAPAGE": 0.04, "IVRESSE": 0.03,
        "ACCIDENT_CIRC": 0.12, "STUPEFIANTS": 0.06, "STATIONNEMENT": 0.10, "DIFFEREND": 0.04})
    categories_night: Shares = field(default_factory=lambda: {
        "VOL_SIMPLE": 0.12, "VOL_VIOLENCE": 0.06, "CAMBRIOLAGE": 0.04, "VIOLENCES": 0.08,
        "RIXE": 0.06, "DEGRADATION": 0.08, "TROUBLE_OTP": 0.10, "TAPAGE": 0.16, "IVRESSE": 0.12,
        "ACCIDENT_CIRC": 0.05, "STUPEFIANTS": 0.07, "STATIONNEMENT": 0.02, "DIFFEREND": 0.04})
    night_level: Hourly = (1, 1, 1, 1, 1, 1, 0.6, 0.2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.3,
                           0.5, 0.7, 0.9, 1)  # blend of the day (0) and night (1) mixes
    origine: Shares = field(default_factory=lambda: {
        "appel_public": 0.6, "patrouille": 0.28, "videoprotection": 0.08, "pompiers": 0.04})
    origine_patrol_categories: tuple[str, ...] = ("STUPEFIANTS", "STATIONNEMENT", "IVRESSE")
    origine_patrol_share: float = 0.75  # these are mostly found by patrols
    gravite: tuple[float, float, float] = (0.6, 0.3, 0.1)
    gravite_serious: tuple[float, float, float] = (0.2, 0.5, 0.3)
    serious_categories: tuple[str, ...] = ("VOL_VIOLENCE", "VIOLENCES", "RIXE")
    pii_share: float = 0.12  # narratives carrying a fake name, phone number or plate
    burst_sigma_m: float = 300.0  # spread of an anomalous burst around its centre


@dataclass(frozen=True)
class FireParams:
    """Marins-pompiers interventions."""

    daily: float = 125.0
    hourly: Hourly = (0.55, 0.45, 0.4, 0.35, 0.35, 0.4, 0.55, 0.8, 1.0, 1.15, 1.25, 1.3,
                      1.3, 1.25, 1.25, 1.25, 1.3, 1.3, 1.3, 1.25, 1.1, 0.95, 0.8, 0.65)
    types: Shares = field(default_factory=lambda: {
        "SAP": 0.70, "INCENDIE": 0.08, "ACCIDENT": 0.08, "ASSISTANCE": 0.10, "AUTRE": 0.04})
    fire_seasonal_amplitude: float = 0.6  # fires are more frequent in the dry summer
    fire_peak_day: int = 205
    duration_min_minutes: float = 20.0
    duration_max_minutes: float = 120.0
    duration_gamma_shape: float = 2.0
    duration_gamma_scale_minutes: float = 18.0


@dataclass(frozen=True)
class AgentParams:
    """Field agents' reports (daytime only)."""

    weekday_daily: float = 48.0
    weekend_factor: float = 0.5
    first_hour: int = 7
    last_hour: int = 18  # reports are created 07:00–18:59
    agents: int = 40
    categories: Shares = field(default_factory=lambda: {
        "degradation": 0.18, "tag": 0.22, "eclairage": 0.15, "squat": 0.05,
        "depot_sauvage": 0.28, "voirie": 0.12})
    photo_share: float = 0.4


@dataclass(frozen=True)
class CctvParams:
    """Video-analytics boxes: people counts per 15 minutes, crowd density, alarms."""

    window_s: int = 900
    default_peak_count: float = 60.0
    peak_count: Shares = field(default_factory=lambda: {
        "cam-vieux-port-quai": 350.0, "cam-vieux-port-ombriere": 300.0,
        "cam-canebiere-bas": 280.0, "cam-canebiere-haut": 200.0, "cam-noailles": 250.0,
        "cam-saint-charles": 320.0, "cam-castellane": 200.0, "cam-cours-julien": 150.0,
        "cam-joliette": 180.0, "cam-la-rose": 120.0, "cam-prado-rp": 120.0,
        "cam-prado-plage": 90.0, "cam-velodrome-n": 30.0, "cam-velodrome-s": 30.0,
        "cam-velodrome-parvis": 40.0, "cam-dome": 30.0})
    hourly: Hourly = (0.25, 0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.45, 0.7, 0.8, 0.9, 1.0,
                      1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 0.95, 0.85, 0.7, 0.55, 0.45, 0.35)
    weekend_factor: float = 1.15
    dispersion: float = 15.0  # negative-binomial shape: variance = μ + μ²/dispersion
    density_radius_m: float = 400.0  # cameras this close to a venue also report crowd_density
    monitored_area_m2: float = 400.0
    dwell_share: float = 0.25  # share of a window's count present at one instant
    alarms_per_camera_day: Shares = field(default_factory=lambda: {
        "abandoned_object": 0.12, "intrusion": 0.04, "fall": 0.05, "fire_smoke": 0.02})
    confidence_range: tuple[float, float] = (0.55, 0.99)


@dataclass(frozen=True)
class PresenceParams:
    """Mobile-operator presence per H3 cell and local hour."""

    threshold: int = 20  # the operator's seuil_diffusion
    away_weekday: Hourly = (0.02, 0.02, 0.02, 0.02, 0.02, 0.04, 0.1, 0.25, 0.38, 0.42, 0.42,
                            0.42, 0.4, 0.42, 0.42, 0.42, 0.38, 0.3, 0.22, 0.15, 0.1, 0.07,
                            0.05, 0.03)
    away_weekend: Hourly = (0.05, 0.04, 0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.1, 0.16, 0.22,
                            0.26, 0.26, 0.26, 0.28, 0.28, 0.26, 0.22, 0.18, 0.15, 0.13, 0.11,
                            0.09, 0.07)
    inbound_factor: float = 1.15  # commuters and visitors from outside join the daytime flow
    centre_lat: float = 43.2951  # Vieux-Port: the daytime attraction peaks here
    centre_lon: float = 5.3740
    centre_sigma_m: float = 1800.0
    centre_boost: float = 6.0
    natural_attraction: float = 0.2  # hikers and beach-goers, relative to residents' weight
    noise_sigma: float = 0.05


@dataclass(frozen=True)
class TransitParams:
    """Metro boardings per station and local hour."""

    daily: Shares = field(default_factory=lambda: {
        "saint_charles_m": 18000.0, "castellane": 12000.0, "vieux_port_m1": 11000.0,
        "noailles": 8000.0, "joliette": 7000.0, "la_timone": 7000.0, "la_rose": 6500.0,
        "bougainville": 6000.0, "rond_point_prado": 6000.0, "notre_dame_du_mont": 5000.0,
        "perier": 4000.0, "sainte_marguerite": 3500.0})
    weekday_hourly: Hourly = (0.15, 0, 0, 0, 0, 0.3, 1.2, 3.2, 3.6, 2.0, 1.3, 1.3, 1.5, 1.5,
                              1.4, 1.6, 2.4, 3.2, 3.0, 2.0, 1.2, 0.8, 0.6, 0.4)
    weekend_hourly: Hourly = (0.3, 0, 0, 0, 0, 0.15, 0.3, 0.6, 1.0, 1.4, 1.8, 2.0, 2.0, 2.0,
                              2.0, 2.0, 2.0, 2.0, 1.8, 1.4, 1.0, 0.8, 0.6, 0.5)
    weekend_factor: float = 0.65
    noise_sigma: float = 0.1


@dataclass(frozen=True)
class HospitalParams:
    """Emergency-department arrivals per hospital, local hour and reason."""

    daily: float = 230.0  # whole city
    sites: Shares = field(default_factory=lambda: {
        "timone": 0.45, "nord": 0.33, "conception": 0.22})
    hourly: Hourly = (0.45, 0.38, 0.32, 0.28, 0.26, 0.28, 0.4, 0.7, 1.0, 1.25, 1.4, 1.45,
                      1.4, 1.35, 1.35, 1.35, 1.35, 1.35, 1.35, 1.3, 1.2, 1.0, 0.8, 0.6)
    motifs_day: Shares = field(default_factory=lambda: {
        "traumatologie": 0.32, "malaise": 0.25, "intoxication": 0.05,
        "psychiatrie": 0.06, "autre": 0.32})
    motifs_night: Shares = field(default_factory=lambda: {
        "traumatologie": 0.28, "malaise": 0.22, "intoxication": 0.14,
        "psychiatrie": 0.10, "autre": 0.26})
    weekend_factor: float = 1.08


@dataclass(frozen=True)
class CalendarParams:
    """Planned events: OM home matches, demonstrations, concerts, the summer festival."""

    real_fixtures_from: str = "2015-07-01"  # the packaged file covers these dates…
    real_fixtures_until: str = "2025-06-30"  # …and a synthetic schedule is drawn outside
    match_attendance: tuple[int, int] = (55_000, 65_000)
    match_sellout_attendance: int = 65_000
    match_weekend_kickoff: str = "21:00"  # Friday–Sunday
    match_midweek_kickoff: str = "20:45"  # Monday–Thursday
    match_minutes: int = 110
    season_first_day: str = "08-10"  # synthetic seasons: mid-August…
    season_last_day: str = "05-25"  # …to late May
    synthetic_home_interval_days: int = 14
    synthetic_midweek_share: float = 0.12
    synthetic_sunday_share: float = 0.6
    demonstrations_per_month: tuple[int, int] = (1, 3)
    demonstration_attendance: tuple[int, int] = (2_000, 15_000)
    demonstration_route: tuple[tuple[float, float], ...] = (
        (43.2951, 5.3740), (43.2975, 5.3810), (43.2993, 5.3857))  # Vieux-Port → Réformés
    concerts_per_month: tuple[int, int] = (1, 2)
    concert_attendance: tuple[int, int] = (4_000, 8_500)
    concert_start: str = "20:30"
    concert_minutes: int = 150
    festival_days: int = 3
    festival_attendance: tuple[int, int] = (20_000, 30_000)
    festival_start: str = "18:00"
    festival_minutes: int = 420


@dataclass(frozen=True)
class AnomalyParams:
    """Planted anomalies: one about every ``days_per_anomaly`` days, kinds in turn."""

    days_per_anomaly: float = 15.0
    kinds: tuple[str, ...] = ("incident_burst", "crowd_spike", "ed_spike", "cctv_density_spike")
    multiplier: Shares = field(default_factory=lambda: {
        "incident_burst": 6.0, "crowd_spike": 4.0, "ed_spike": 8.0, "cctv_density_spike": 5.0})
    hours: dict[str, int] = field(default_factory=lambda: {
        "incident_burst": 4, "crowd_spike": 3, "ed_spike": 3, "cctv_density_spike": 2})
    first_hour: int = 10  # anomalies start between 10:00 and 19:00 local
    last_hour: int = 19
    crowd_min_distance_m: float = 1500.0  # crowd spikes stay away from every venue


@dataclass(frozen=True)
class Parameters:
    """All parameters of a simulation run (defaults describe Marseille)."""

    geography: GeographyParams = field(default_factory=GeographyParams)
    police: PoliceParams = field(default_factory=PoliceParams)
    fire: FireParams = field(default_factory=FireParams)
    agents: AgentParams = field(default_factory=AgentParams)
    cctv: CctvParams = field(default_factory=CctvParams)
    presence: PresenceParams = field(default_factory=PresenceParams)
    transit: TransitParams = field(default_factory=TransitParams)
    hospitals: HospitalParams = field(default_factory=HospitalParams)
    calendar: CalendarParams = field(default_factory=CalendarParams)
    anomalies: AnomalyParams = field(default_factory=AnomalyParams)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every parameter."""
        return asdict(self)
