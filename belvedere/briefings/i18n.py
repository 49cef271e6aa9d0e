"""French and English wording of the briefings.

One dictionary per language, with the same keys (a test checks it); ``{name}`` placeholders are
filled with :meth:`str.format`. French is the default: the briefings go to Marseille's
preparation meetings.

Example:
    >>> strings("en")["conflicts.title"]
    'Conflicts with other planned events'
    >>> strings("fr")["feed.crowd"]
    'Foule (comptages agrégés)'
"""

from __future__ import annotations

from datetime import datetime

from belvedere.errors import ConfigError

LANGS = ("fr", "en")

STRINGS: dict[str, dict[str, str]] = {
    "fr": {
        "doc.title": "Note de préparation d'événement",
        "doc.subtitle": "Observatoire de la tranquillité publique — Marseille",
        "doc.generated": "Produite le {when} pour {actor} ({role}), finalité : {purpose}.",
        "doc.advice": "Prévisions indicatives : aucune décision n'est prise automatiquement.",
        "title.kind": "Type",
        "title.venue": "Lieu",
        "title.when": "Horaire (heure de Paris)",
        "title.attendance": "Affluence attendue",
        "title.persons": "{n} personnes",
        "title.unknown": "non communiquée",
        "kind.match_football": "Match de football",
        "kind.manifestation": "Manifestation",
        "kind.concert": "Concert",
        "kind.festival": "Festival",
        "map.title": "Charge supplémentaire attendue au coup d'envoi ({when})",
        "map.caption": "Écart attendu (attendu − référence) par cellule H3 de résolution "
                       "{resolution} autour du lieu (★), à l'heure du début. Cellules agrégées "
                       "uniquement ; aucun point ni aucune personne.",
        "map.extra": "supplément attendu",
        "map.no_data": "pas de données pour ce flux",
        "curves.title": "Heure par heure sur la zone",
        "curves.withheld": "Courbes non montrées (des valeurs horaires passent sous k = {k}) : "
                           "{feeds}.",
        "curves.caption": "Somme sur les cellules de la zone (jusqu'à {rings} anneaux du lieu). "
                          "Trait plein : attendu ; tirets : référence (semaines comparables "
                          "sans événement) ; bandes : intervalles à 80 % et 95 %, somme des "
                          "intervalles par cellule (donc prudents, plutôt larges).",
        "curves.expected": "attendu",
        "curves.baseline": "référence",
        "curves.band80": "intervalle 80 %",
        "curves.band95": "intervalle 95 %",
        "curves.hour": "heure de Paris",
        "table.title": "Totaux horaires par flux",
        "table.caption": "Valeurs attendues sur la zone, arrondies. Toute valeur inférieure "
                         "à k = {k} est masquée (« < {k} »).",
        "table.feed": "Flux",
        "table.hour": "Heure",
        "table.baseline": "Référence",
        "table.baseline_short": "réf.",
        "table.expected": "Attendu",
        "table.interval": "Intervalle 80 %",
        "conflicts.title": "Conflits avec d'autres événements prévus",
        "conflicts.caption": "Événements prévus à ± 1 jour dont les périodes d'affluence se "
                             "chevauchent et qui sont proches, partagent les mêmes urgences ou "
                             "la même ligne de métro.",
        "conflicts.none": "Aucun conflit détecté avec les événements prévus à ± 1 jour.",
        "conflicts.other": "Autre événement",
        "conflicts.when": "Chevauchement",
        "conflicts.why": "Motif",
        "conflicts.distance": "Distance",
        "conflicts.attendance": "Affluence cumulée",
        "why.space_time": "proximité",
        "why.same_hospital": "mêmes urgences ({hospital})",
        "why.same_metro_line": "même ligne de métro ({lines})",
        "accuracy.title": "Quelle fiabilité ?",
        "accuracy.body": "Le modèle compare chaque événement passé du même type à des semaines "
                         "comparables sans événement, puis combine l'effet propre au lieu et "
                         "l'effet moyen du type d'événement. Sur la ville simulée, lors de "
                         "tests où chaque événement est retiré puis prévu, ses intervalles ont "
                         "couvert l'effet de foule introduit par le simulateur dans 99,8 % des "
                         "cellules. La validation sur données réelles est en cours : ces "
                         "chiffres sont des ordres de grandeur pour préparer la réunion, "
                         "pas des engagements.",
        "daily.title": "Point de situation quotidien",
        "daily.heading": "Journée du {day}",
        "daily.feeds": "Flux de la journée, comparés aux mêmes jours des quatre semaines "
                       "précédentes",
        "daily.feed": "Flux",
        "daily.today": "Ce jour",
        "daily.usual": "Habituel",
        "daily.change": "Écart",
        "daily.zones": "Main courante police par arrondissement",
        "daily.zone": "Arrondissement",
        "daily.events": "Événements prévus ce jour",
        "daily.no_events": "Aucun événement prévu ce jour.",
        "daily.caption": "Totaux sur la ville, heure de Paris. Toute valeur inférieure à k = {k} "
                         "est masquée (« < {k} »).",
        "privacy.title": "Confidentialité",
        "privacy.aggregate": "Données agrégées par lieu et par heure uniquement : aucune "
                             "personne, aucun téléphone, aucune plaque, aucune image.",
        "privacy.threshold": "Les petits effectifs sont masqués (k = {k}) pour les rôles autres "
                             "qu'opérateur ; dans cette note, toute valeur de tableau "
                             "inférieure à k est masquée et aucun chiffre n'est donné par "
                             "cellule.",
        "privacy.purpose": "Finalité déclarée : {purpose}.",
        "privacy.logged": "La production de cette note a été enregistrée dans le journal des "
                          "accès (entrée n° {seq}).",
        "purpose.event_preparation": "préparation de la sécurité d'un événement",
        "purpose.situation_monitoring": "suivi de la situation de la ville",
        "feed.police_log": "Incidents (police municipale)",
        "feed.fire_ems": "Interventions (marins-pompiers)",
        "feed.crowd": "Foule (comptages agrégés)",
        "feed.transit": "Montées dans les transports",
        "feed.ed_arrivals": "Arrivées aux urgences",
        "page": "Page",
    },
    "en": {
        "doc.title": "Event preparation briefing",
        "doc.subtitle": "Public-safety observatory — Marseille",
        "doc.generated": "Produced on {when} for {actor} ({role}), purpose: {purpose}.",
        "doc.advice": "Forecasts are advice: nothing is decided automatically.",
        "title.kind": "Kind",
        "title.venue": "Venue",
        "title.when": "Time (Paris)",
        "title.attendance": "Expected attendance",
        "title.persons": "{n} people",
        "title.unknown": "not declared",
        "kind.match_football": "Football match",
        "kind.manifestation": "Demonstration",
        "kind.concert": "Concert",
        "kind.festival": "Festival",
        "map.title": "Expected extra load at kick-off ({when})",
        "map.caption": "Expected extra (expected − baseline) per H3 cell of resolution "
                       "{resolution} around the venue (★), at the start hour. Aggregate cells "
                       "only; no points, no person.",
        "map.extra": "expected extra",
        "map.no_data": "no data for this feed",
        "curves.title": "Hour by hour over the area",
        "curves.withheld": "Curves not shown (some hourly values fall below k = {k}): {feeds}.",
        "curves.caption": "Sum over the area's cells (up to {rings} rings from the venue). "
                          "Solid line: expected; dashed: baseline (comparable weeks without "
                          "an event); bands: 80 % and 95 % intervals, summed over cells (so "
                          "cautious, rather wide).",
        "curves.expected": "expected",
        "curves.baseline": "baseline",
        "curves.band80": "80 % interval",
        "curves.band95": "95 % interval",
        "curves.hour": "Paris time",
        "table.title": "Hourly totals per feed",
        "table.caption": "Expected values over the area, rounded. Any value below k = {k} "
                         "is hidden (“< {k}”).",
        "table.feed": "Feed",
        "table.hour": "Hour",
        "table.baseline": "Baseline",
        "table.baseline_short": "base",
        "table.expected": "Expected",
        "table.interval": "80 % interval",
        "conflicts.title": "Conflicts with other planned events",
        "conflicts.caption": "Planned events within ± 1 day whose crowd periods overlap and "
                             "that are close, share the same emergency department or the same "
                             "metro line.",
        "conflicts.none": "No conflict found with the planned events within ± 1 day.",
        "conflicts.other": "Other event",
        "conflicts.when": "Overlap",
        "conflicts.why": "Why",
        "conflicts.distance": "Distance",
        "conflicts.attendance": "Combined attendance",
        "why.space_time": "nearby",
        "why.same_hospital": "same emergency department ({hospital})",
        "why.same_metro_line": "same metro line ({lines})",
        "accuracy.title": "How accurate is this?",
        "accuracy.body": "The model compares each past event of the same kind with comparable "
                         "weeks without an event, then combines the venue's own effect with "
                         "the kind's average effect. On the simulated city, in tests where "
                         "each event is held out and then forecast, its intervals covered the "
                         "crowd effect planted by the simulator in 99.8 % of cells. "
                         "Validation on real data is pending: these figures are orders of "
                         "magnitude to prepare the meeting, not commitments.",
        "daily.title": "Daily situation report",
        "daily.heading": "Day of {day}",
        "daily.feeds": "The day's feeds, compared with the same weekday of the four weeks before",
        "daily.feed": "Feed",
        "daily.today": "This day",
        "daily.usual": "Usual",
        "daily.change": "Change",
        "daily.zones": "Municipal police log by arrondissement",
        "daily.zone": "Arrondissement",
        "daily.events": "Planned events of the day",
        "daily.no_events": "No planned event this day.",
        "daily.caption": "City totals, Paris time. Any value below k = {k} is hidden (\"< {k}\").",
        "privacy.title": "Privacy",
        "privacy.aggregate": "Aggregate data per place and hour only: no person, no phone, "
                             "no plate, no image.",
        "privacy.threshold": "Small counts are hidden (k = {k}) for roles other than operator; "
                             "in this briefing every table value below k is hidden and no "
                             "figure is given per cell.",
        "privacy.purpose": "Declared purpose: {purpose}.",
        "privacy.logged": "The production of this briefing was recorded in the access log "
                          "(entry no. {seq}).",
        "purpose.event_preparation": "preparing the safety of a planned event",
        "purpose.situation_monitoring": "monitoring the city's situation",
        "feed.police_log": "Incidents (municipal police)",
        "feed.fire_ems": "Interventions (fire brigade / EMS)",
        "feed.crowd": "Crowd (aggregate counts)",
        "feed.transit": "Transit boardings",
        "feed.ed_arrivals": "Emergency-department arrivals",
        "page": "Page",
    },
}


def strings(lang: str) -> dict[str, str]:
    """The briefing's strings in ``lang`` (``fr`` or ``en``); :class:`ConfigError` otherwise."""
    try:
        return STRINGS[lang]
    except KeyError:
        raise ConfigError(f"unknown briefing language {lang!r}; languages: "
                          f"{', '.join(LANGS)}") from None


def label(texts: dict[str, str], key: str, fallback: str) -> str:
    """``texts[key]``, or ``fallback`` (a raw code) when the wording has no entry for it."""
    return texts.get(key, fallback)


_DAYS = {"fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
         "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
_MONTHS = {"fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                  "septembre", "octobre", "novembre", "décembre"),
           "en": ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")}


def long_date(when: datetime, lang: str) -> str:
    """A date and time written out in ``lang``, without depending on the system's locales.

    Example:
        >>> long_date(datetime(2024, 9, 14, 21, 0), "fr")
        'samedi 14 septembre 2024, 21:00'
        >>> long_date(datetime(2024, 9, 14, 21, 0), "en")
        'Saturday 14 September 2024, 21:00'
    """
    strings(lang)
    day, month = _DAYS[lang][when.weekday()], _MONTHS[lang][when.month - 1]
    return f"{day} {when.day} {month} {when.year}, {when:%H:%M}"


def number(value: float, lang: str) -> str:
    """``value`` rounded to a whole number with the language's thousands separator.

    Example:
        >>> number(64900, "fr"), number(64900, "en")
        ('64\u202f900', '64,900')
    """
    text = f"{value:,.0f}"
    return text.replace(",", "\u202f") if lang == "fr" else text
