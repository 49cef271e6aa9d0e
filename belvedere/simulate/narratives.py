"""Synthetic French free text of the police log: narratives (``recit``) and addresses.

Narratives are short templates per incident code. A share of them (12 % by default) ends with a
**fake** personal detail — a witness's name, a mobile number (``06 xx xx xx xx``) or a French
plate (``AB-123-CD``) — so that the connectors' minimisation at the door can be tested: these
columns must never reach the store. Names are common French surnames, numbers and plates are
random; none designates a real person.

Addresses are plausible, not real: a number, a street type and a common French street name,
with the postcode of the incident's arrondissement.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> addresses(rng, np.array(["13001"]))[0].endswith(", 13001 Marseille")
    True
"""

from __future__ import annotations

import numpy as np
import polars as pl

LIBELLES = {
    "VOL_SIMPLE": "Vol simple",
    "VOL_VIOLENCE": "Vol avec violence",
    "CAMBRIOLAGE": "Cambriolage",
    "VIOLENCES": "Violences volontaires",
    "RIXE": "Rixe sur la voie publique",
    "DEGRADATION": "Dégradation de biens",
    "TROUBLE_OTP": "Trouble à l'ordre public",
    "TAPAGE": "Tapage",
    "IVRESSE": "Ivresse publique manifeste",
    "ACCIDENT_CIRC": "Accident de la circulation",
    "STUPEFIANTS": "Infraction à la législation sur les stupéfiants",
    "STATIONNEMENT": "Stationnement gênant",
    "DIFFEREND": "Différend de voisinage",
}

_TEMPLATES = {
    "VOL_SIMPLE": ("Requérant signale le vol de son téléphone en terrasse.",
                   "Vol à l'étalage signalé par le gérant du commerce.",
                   "Vol d'un vélo attaché devant l'immeuble."),
    "VOL_VIOLENCE": ("Victime signale un vol à l'arraché de son sac.",
                     "Vol avec menaces signalé par un passant, auteur en fuite."),
    "CAMBRIOLAGE": ("Cambriolage constaté au retour des occupants, porte forcée.",
                    "Effraction signalée dans un local commercial."),
    "VIOLENCES": ("Violences volontaires sur la voie publique, victime légèrement blessée.",
                  "Altercation ayant dégénéré, une personne prise en charge."),
    "RIXE": ("Rixe entre plusieurs individus, dispersés à l'arrivée de la patrouille.",
             "Bagarre signalée devant un établissement de nuit."),
    "DEGRADATION": ("Dégradation de mobilier urbain constatée.",
                    "Vitre de véhicule brisée signalée par le propriétaire."),
    "TROUBLE_OTP": ("Regroupement bruyant troublant la tranquillité publique.",
                    "Individu virulent invectivant les passants."),
    "TAPAGE": ("Tapage nocturne signalé par le voisinage.",
               "Musique forte provenant d'un appartement, plainte des voisins."),
    "IVRESSE": ("Personne en état d'ivresse sur la voie publique.",
                "Individu alcoolisé allongé sur le trottoir, pompiers avisés."),
    "ACCIDENT_CIRC": ("Accrochage entre deux véhicules, dégâts matériels.",
                      "Collision entre un deux-roues et une voiture, un blessé léger."),
    "STUPEFIANTS": ("Point de deal signalé, patrouille dépêchée.",
                    "Contrôle d'un individu, saisie de produits stupéfiants."),
    "STATIONNEMENT": ("Véhicule stationné sur un passage piéton.",
                      "Véhicule gênant la sortie d'un garage."),
    "DIFFEREND": ("Différend entre voisins au sujet de nuisances.",
                  "Litige entre un commerçant et un client."),
}

_SURNAMES = ("Martin", "Bernard", "Durand", "Petit", "Moreau", "Garcia", "Roux", "Fournier",
             "Girard", "Lopez", "Mercier", "Blanc", "Guerin", "Muller", "Henry", "Rossi")
_TITLES = ("M.", "Mme")
_PLATE_LETTERS = np.array(list("ABCDEFGHJKLMNPQRSTVWXYZ"))  # SIV plates skip I, O and U
_STREET_TYPES = ("rue", "boulevard", "avenue", "traverse", "impasse", "place", "chemin")
_STREET_NAMES = ("de la République", "Jean-Jaurès", "Victor-Hugo", "Pasteur", "des Écoles",
                 "du Marché", "des Lilas", "de la Gare", "du Port", "des Oliviers",
                 "Émile-Zola", "de la Liberté", "des Platanes", "du Moulin", "Paul-Bert",
                 "Gambetta", "des Fleurs", "de l'Église", "des Pêcheurs", "Lamartine")


def narratives(rng: np.random.Generator, codes: np.ndarray, pii_share: float) -> pl.Series:
    """One narrative per incident code; a share ends with a fake name, phone or plate."""
    n = len(codes)
    known = np.array(sorted(_TEMPLATES))
    flat = np.array([t for c in known for t in _TEMPLATES[c]])
    counts = np.array([len(_TEMPLATES[c]) for c in known])
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    code = np.searchsorted(known, codes)
    text = flat[first[code] + (rng.random(n) * counts[code]).astype(np.int64)]
    kind = np.where(rng.random(n) < pii_share, rng.integers(1, 4, n), 0)
    pairs = np.char.zfill(rng.integers(0, 100, (4, n)).astype(str), 2)
    letters = _PLATE_LETTERS[rng.integers(0, len(_PLATE_LETTERS), (4, n))]
    digits = np.char.zfill(rng.integers(1, 1000, n).astype(str), 3)
    frame = pl.DataFrame({
        "text": text, "kind": kind,
        "title": np.array(_TITLES)[rng.integers(0, len(_TITLES), n)],
        "surname": np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)],
        "p1": pairs[0], "p2": pairs[1], "p3": pairs[2], "p4": pairs[3],
        "l1": letters[0], "l2": letters[1], "l3": letters[2], "l4": letters[3], "digits": digits,
    })
    suffix = (
        pl.when(pl.col("kind") == 1).then(pl.format(" Témoin : {} {}.", "title", "surname"))
        .when(pl.col("kind") == 2).then(pl.format(" Rappeler le requérant au 06 {} {} {} {}.",
                                                  "p1", "p2", "p3", "p4"))
        .when(pl.col("kind") == 3).then(pl.format(" Véhicule en cause immatriculé {}{}-{}-{}{}.",
                                                  "l1", "l2", "digits", "l3", "l4"))
        .otherwise(pl.lit(""))
    )
    return frame.select(pl.concat_str(["text", suffix]).alias("recit")).to_series()


def addresses(rng: np.random.Generator, postcodes: np.ndarray) -> pl.Series:
    """A plausible synthetic street address per postcode."""
    n = len(postcodes)
    frame = pl.DataFrame({
        "number": rng.integers(1, 151, n).astype(str),
        "type": np.array(_STREET_TYPES)[rng.integers(0, len(_STREET_TYPES), n)],
        "name": np.array(_STREET_NAMES)[rng.integers(0, len(_STREET_NAMES), n)],
        "postcode": np.asarray(postcodes, dtype=str),
    })
    return frame.select(
        pl.format("{} {} {}, {} Marseille", "number", "type", "name", "postcode").alias("adresse")
    ).to_series()
