"""The public transparency page: one self-contained HTML file, in French and in English.

What belvedere does and does not do, its purposes, the feeds it receives, how long it keeps
them (with the latest erasure receipts), the algorithms with their measured accuracy, what the
public gets and with which protection, how to check the access log against its signed tree
head, and whom to contact. It loads nothing from anywhere: styles are inline, there is no
script, image or font, and links only point inside the page (a test checks every ``src`` and
``href``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from belvedere.dossier.content import Context
from belvedere.privacy.policy import DEFAULT_K, POLICIES

TEMPLATES = Path(__file__).parent / "templates"

STRINGS: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "belvedere — transparence",
        "intro": "belvedere est l'observatoire de la tranquillité publique de {controller}. "
                 "Il rassemble les flux de la ville sur une même grille de lieux et d'heures "
                 "pour le centre de supervision urbain. Cette page est produite à partir du "
                 "code, le {date}.",
        "does_title": "Ce que fait belvedere",
        "does": ["une image en direct de la ville par lieu et par heure (incidents, "
                 "affluence, urgences, transports) pour le centre de supervision ;",
                 "l'anticipation de la charge attendue autour d'un événement programmé ;",
                 "des alertes sur ce qui sort de l'ordinaire, examinées par une personne ;",
                 "des notes de préparation et des bilans quotidiens ;",
                 "des chiffres publics par arrondissement et par jour, bruités et seuillés."],
        "doesnt_title": "Ce que belvedere ne fait pas",
        "doesnt": ["aucune sortie, aucun modèle, aucune décision ne vise une personne : tout "
                   "est indexé par un lieu et une heure ;",
                   "pas d'image, pas de visage, pas de biométrie, pas de plaque, pas de suivi "
                   "de trajet : un message de caméra qui en contient est refusé ;",
                   "pas d'identifiant de téléphone : l'opérateur envoie des comptages par zone "
                   "et par heure ;",
                   "pas de surveillance des réseaux sociaux ni des manifestants ;",
                   "pas de donnée socio-démographique des habitants dans les modèles ;",
                   "rien n'est déclenché automatiquement : une alerte est traitée par une "
                   "personne, qui en donne la raison."],
        "purposes_title": "Finalités",
        "regime": {"gdpr": "RGPD", "directive_2016_680": "Directive (UE) 2016/680 (police)"},
        "purpose_cols": ["finalité", "cadre", "conservation"],
        "datasets_title": "Données reçues et durées de conservation",
        "dataset_cols": ["flux", "fournisseur", "conservation (jours)"],
        "then_aggregates": "puis agrégats horaires",
        "not_enforced": "décidée, pas encore appliquée",
        "receipts_title": "Derniers effacements (reçus de purge)",
        "receipt_cols": ["ensemble", "effacé avant", "lignes", "empreinte SHA-256", "ligne du "
                         "journal"],
        "no_receipts": "Aucune purge n'a encore été enregistrée dans le journal des accès.",
        "public_title": "Ce que reçoit le public",
        "public": "Des chiffres par arrondissement et par jour ; un bruit calibré (mécanisme "
                  "{mechanism}, ε = {epsilon} par publication, plafond ε = {cap} par {period}) ; "
                  "les comptages inférieurs à {k} ne sont pas publiés. Les comptages de "
                  "présence et d'arrivées aux urgences sont seuillés pour tous les rôles.",
        "algorithms_title": "Algorithmes et précision mesurée",
        "algorithms": {"forecast": "Prévision des incidents par lieu",
                       "event_impact": "Anticipation de la charge d'un événement",
                       "anomalies": "Détection d'anomalies (alertes)",
                       "release": "Porte de publication (seuils et bruit)"},
        "accuracy": {
            "forecast": "Toronto 2020, 52 semaines : PAI à 1 % de la surface {ens_pai} pour "
                        "l'ensemble contre {naive_pai} pour le simple comptage ; "
                        "log-vraisemblance par cellule {ens_ll} contre {naive_ll}.",
            "event_impact": "Chicago 2022 : erreur absolue moyenne {model_mae} contre "
                            "{naive_mae} pour la référence (Wrigley Field) ; couverture des "
                            "intervalles à 95 % : {coverage} %.",
            "anomalies": "Ville simulée : {found} anomalies plantées trouvées sur {planted} "
                         "(rappel {recall}), {false} fausse alerte par jour, délai médian "
                         "{median} h.",
            "release": "Règles publiées dans le registre des algorithmes "
                       "(algorithm_register.json)."},
        "measured": "mesuré le",
        "periods": {"day": "jour", "month": "mois", "year": "an"},
        "log_title": "Vérifier le journal des accès",
        "log": "Chaque accès aux données (qui — sous pseudonyme —, rôle, finalité, quoi, "
               "combien de lignes) est une ligne d'un journal chaîné par empreintes, sous un "
               "arbre de Merkle (RFC 6962) dont les têtes sont signées (Ed25519). La tête "
               "ci-dessous fige les {size} premières lignes : toute réécriture du passé ne la "
               "vérifie plus.",
        "no_head": "Aucune tête signée n'est encore publiée.",
        "head_cols": ["lignes", "racine", "horodatage", "signature", "clé publique"],
        "verify": "Pour vérifier : demandez au DPO une preuve d'inclusion ou de cohérence "
                  "(`belvedere audit proof`) et vérifiez-la avec la clé publique ci-dessus ; "
                  "la tête la plus récente est publiée par l'API (/api/v1/audit/head).",
        "contact_title": "Contact",
        "contact": "Délégué à la protection des données : {dpo}. Responsable du traitement : "
                   "{controller}.",
        "dossier": "Le dossier complet (registre des traitements, analyse d'impact, fiches "
                   "des modèles, registre des algorithmes, conservation) accompagne cette "
                   "page.",
    },
    "en": {
        "title": "belvedere — transparency",
        "intro": "belvedere is the public-safety data observatory of {controller}. It puts "
                 "the city's feeds on one grid of places and hours for the supervision centre. "
                 "This page is generated from the code, on {date}.",
        "does_title": "What belvedere does",
        "does": ["a live picture of the city by place and hour (incidents, crowds, emergency "
                 "arrivals, transit) for the supervision centre;",
                 "the expected load around a planned event;",
                 "alerts on what is abnormal, looked at by a person;",
                 "preparation notes and daily situation reports;",
                 "public figures per arrondissement and day, noised and thresholded."],
        "doesnt_title": "What belvedere does not do",
        "doesnt": ["no output, model or decision targets a person: everything is keyed by a "
                   "place and an hour;",
                   "no image, face, biometrics, plate or track: a camera message carrying one "
                   "is refused;",
                   "no phone identifier: the operator sends counts per zone and hour;",
                   "no monitoring of social media or of demonstrators;",
                   "no socio-demographic attribute of residents in the models;",
                   "nothing is dispatched automatically: a person handles each alert and "
                   "records why."],
        "purposes_title": "Purposes",
        "regime": {"gdpr": "GDPR", "directive_2016_680": "Directive (EU) 2016/680 (police)"},
        "purpose_cols": ["purpose", "regime", "retention"],
        "datasets_title": "Data received and how long it is kept",
        "dataset_cols": ["feed", "supplier", "retention (days)"],
        "then_aggregates": "then hourly aggregates",
        "not_enforced": "decided, not enforced yet",
        "receipts_title": "Latest erasures (purge receipts)",
        "receipt_cols": ["dataset", "erased before", "rows", "SHA-256 digest", "log line"],
        "no_receipts": "No purge has been recorded in the access log yet.",
        "public_title": "What the public gets",
        "public": "Figures per arrondissement and day; calibrated noise ({mechanism}, "
                  "ε = {epsilon} per release, capped at ε = {cap} per {period}); counts under "
                  "{k} are not published. Presence and emergency-arrival counts are "
                  "thresholded for every role.",
        "algorithms_title": "Algorithms and their measured accuracy",
        "algorithms": {"forecast": "Place-based incident forecast",
                       "event_impact": "Planned-event load anticipation",
                       "anomalies": "Anomaly detection (alerts)",
                       "release": "Release gate (thresholds and noise)"},
        "accuracy": {
            "forecast": "Toronto 2020, 52 weeks: PAI at 1 % of the area {ens_pai} for the "
                        "ensemble against {naive_pai} for plain counting; log-likelihood per "
                        "cell {ens_ll} against {naive_ll}.",
            "event_impact": "Chicago 2022: mean absolute error {model_mae} against {naive_mae} "
                            "for the baseline (Wrigley Field); 95 % interval coverage "
                            "{coverage} %.",
            "anomalies": "Simulated city: {found} of {planted} planted anomalies found "
                         "(recall {recall}), {false} false alert a day, median delay "
                         "{median} h.",
            "release": "Rules published in the register of algorithms "
                       "(algorithm_register.json)."},
        "measured": "measured on",
        "periods": {"day": "day", "month": "month", "year": "year"},
        "log_title": "Checking the access log",
        "log": "Every access to the data (who — under a pseudonym —, role, purpose, what, how "
               "many rows) is one line of a hash-chained log under a Merkle tree (RFC 6962) "
               "whose heads are signed (Ed25519). The head below pins the first {size} lines: "
               "rewriting the past no longer verifies against it.",
        "no_head": "No signed head is published yet.",
        "head_cols": ["lines", "root", "timestamp", "signature", "public key"],
        "verify": "To check: ask the DPO for an inclusion or consistency proof "
                  "(`belvedere audit proof`) and verify it with the public key above; the "
                  "newest head is published by the API (/api/v1/audit/head).",
        "contact_title": "Contact",
        "contact": "Data-protection officer: {dpo}. Controller: {controller}.",
        "dossier": "The full dossier (record of processing, impact assessment, model cards, "
                   "register of algorithms, retention) comes with this page.",
    },
}
"""The page's wording; both languages have the same keys (a test checks it)."""


UNITS = {"fr": {"Y": ("an", "ans"), "M": ("mois", "mois"), "W": ("semaine", "semaines"),
                "D": ("jour", "jours")},
         "en": {"Y": ("year", "years"), "M": ("month", "months"), "W": ("week", "weeks"),
                "D": ("day", "days")}}


def duration_words(iso: str, lang: str) -> str:
    """An ISO 8601 duration of the register (``P1Y``, ``P90D``) in words.

    Example:
        >>> duration_words("P1Y", "fr"), duration_words("P90D", "en"), duration_words("x", "en")
        ('1 an', '90 days', 'x')
    """
    parts = re.findall(r"(\d+)([YMWD])", iso)
    if not iso.startswith("P") or not parts:
        return iso
    return " ".join(f"{n} {UNITS[lang][u][int(n) != 1]}" for n, u in parts)


def number(value: Any, lang: str) -> str:
    """A figure as the language writes it (a decimal comma in French)."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",").replace("-", "−") if lang == "fr" else text


def _accuracy(cards: dict[str, dict[str, Any]], lang: str) -> dict[str, dict[str, Any]]:
    """The headline figures of each algorithm, from the model cards, written for ``lang``."""
    def fig(card: str, index: int = 0) -> dict[str, Any]:
        return {k: number(v, lang)
                for k, v in next(iter(cards[card]["metrics"][index]["figures"].values())).items()}

    ensemble, naive = fig("ensemble"), fig("naive")
    wrigley = {k: number(v, lang) for k, v in
               cards["event_impact"]["metrics"][0]["figures"]["Wrigley Field"].items()}
    anomalies = fig("anomalies")
    return {
        "forecast": {"ens_pai": ensemble["PAI@1 %"], "naive_pai": naive["PAI@1 %"],
                     "ens_ll": ensemble["log-likelihood per cell"],
                     "naive_ll": naive["log-likelihood per cell"],
                     "measured": cards["ensemble"]["metrics"][0]["measured"]},
        "event_impact": {"model_mae": wrigley["MAE model"], "naive_mae": wrigley["MAE naive"],
                         "coverage": wrigley["95 % coverage model (%)"],
                         "measured": cards["event_impact"]["metrics"][0]["measured"]},
        "anomalies": {"found": anomalies["anomalies found"],
                      "planted": anomalies["anomalies planted"],
                      "recall": anomalies["recall"], "false": anomalies["false alerts per day"],
                      "median": anomalies["time to alert, median (h)"],
                      "measured": cards["anomalies"]["metrics"][0]["measured"]},
        "release": {"measured": None},
    }


def render_page(ctx: Context, cards: dict[str, dict[str, Any]]) -> str:
    """The transparency page's HTML."""
    public = next(r for r in ctx.registry.policies.values() if r.role == "public")
    purpose = ctx.registry.purposes[public.purpose]
    budget = purpose.budget
    after = ctx.aggregates_entry()
    datasets = [{"id": n, "label": {lang: ctx.dataset_label(n, lang) for lang in STRINGS},
                 "supplier": ctx.registry.datasets[n].supplier
                 if n in ctx.registry.datasets else "",
                 "retention": [{"days": e.keep.days, "aggregate": e.aggregate,
                                "enforced": e.enforced} for e in ctx.retention_of(n)]}
                for n in ctx.dataset_ids()]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      keep_trailing_newline=True)
    return env.get_template("index.html").render(
        strings=STRINGS, ctx=ctx, date=ctx.generated.date().isoformat(),
        purposes=list(ctx.registry.purposes.values()), datasets=datasets,
        aggregates_days=after.keep.days if after else None,
        receipts=sorted(ctx.facts.latest_receipts().values(), key=lambda r: r.dataset),
        head=ctx.facts.head, accuracy={lang: _accuracy(cards, lang) for lang in STRINGS},
        duration=duration_words,
        public={lang: {"mechanism": public.mechanism.replace("_", " "),
                       "epsilon": number(public.epsilon, lang),
                       "cap": number(budget.epsilon, lang) if budget else "—",
                       "period": t["periods"][budget.period] if budget else "—",
                       "k": POLICIES["public"].k or DEFAULT_K}
                for lang, t in STRINGS.items()})
