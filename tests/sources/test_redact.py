"""Redaction of free text: personal data become placeholders, ordinary text survives."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from belvedere.simulate.narratives import LIBELLES, narratives
from belvedere.sources.redact import PLACEHOLDERS, RULES, redact

POSITIVES = {
    "phone": [
        "06 12 34 56 78", "06.12.34.56.78", "0612345678", "06-12-34-56-78", "06/12/34/56/78",
        "04 91 12 34 56", "+33 6 12 34 56 78", "+33 (0)6 12 34 56 78", "+33612345678",
        "0033 6 12 34 56 78", "+44 20 7946 0958", "+44 (0)20 7946 0958", "+49 30 123456",
        "+1 212-555-0199", "+1 (212) 555-0199", "0044 20 7946 0958", "+34 612 345 678",
    ],
    "email": [
        "jean.dupont@orange.fr", "j-p.martin+police@sub.example.co.uk", "hélène.roux@free.fr",
        "0612345678@sfr.fr",
    ],
    "plate": [
        # French SIV (and Italy, same shape)
        "AB-123-CD", "AB 123 CD", "AB123CD", "AB-123 CD",
        # old French FNI
        "123 ABC 13", "1234 AB 13", "123 ABC 2A", "45 XY 2B", "123ABC13", "123 AB 974",
        # Germany, United Kingdom, Spain, Belgium, Switzerland, Netherlands
        "M-AB 1234", "B-XY 123", "HH-AB 123E", "AB12 CDE", "AB12CDE", "1234 BCD", "1234-BCD",
        "1-ABC-123", "GE 123456", "VD 1234", "ZH-987", "12-ABC-3", "1-ABC-12", "AB-123-C",
        "AB-12-CD", "12-AB-34",
    ],
    "iban": [
        "FR76 3000 6000 0112 3456 7890 189", "FR7630006000011234567890189",
        "GB29 NWBK 6016 1331 9268 19", "DE89 3704 0044 0532 0130 00", "BE68 5390 0754 7034",
        "NO93 8601 1117 947", "ES91 2100 0418 4502 0005 1332",
    ],
    "card": [
        "4970 1012 3456 7890", "4970101234567890", "4970-1012-3456-7890",
        "3782 822463 10005", "4970 1012 3456 7890 123", "4970101234567",
    ],
    "nir": [
        "1 85 05 78 006 084 36", "185057800608436", "2 85 05 2A 006 084 36",
        "1850578006084", "1850578006084 36", "2.85.05.78.006.084.36",
    ],
}

NAMES = [
    ("Mme Marie-Hélène Dupont-Leroy est venue", "Mme [NOM] est venue"),
    ("M. DUPONT Jean a été entendu", "M. [NOM] a été entendu"),
    ("M Dupont", "M [NOM]"),
    ("Mr Smith", "Mr [NOM]"),
    ("Mlle Durand, témoin", "Mlle [NOM], témoin"),
    ("Monsieur Martin", "Monsieur [NOM]"),
    ("Madame Petit", "Madame [NOM]"),
    ("Mademoiselle Roux", "Mademoiselle [NOM]"),
    ("Dr House", "Dr [NOM]"),
    ("Me Leclerc, avocat", "Me [NOM], avocat"),
    ("M. Jean de La Fontaine.", "M. [NOM]."),
    ("M. J.-P. Martin", "M. [NOM]"),
    ("MME DUPONT", "MME [NOM]"),
    ("M. N'Diaye", "M. [NOM]"),
    ("M. d'Artagnan", "M. [NOM]"),
    ("M. de Villepin", "M. [NOM]"),
    ("Témoin : Mme Émilie Çelik.", "Témoin : Mme [NOM]."),
    ("M. et Mme Dupont", "M. et Mme [NOM]"),
    ("Dr. Lefèvre", "Dr. [NOM]"),
    ("M. Le Goff", "M. [NOM]"),
    ("conducteur M. Karim BENALI, né le 12/05/1990", "conducteur M. [NOM], né le 12/05/1990"),
]

NEGATIVES = [
    "03/02/2018", "17h45", "17H45", "12 rue de Rome", "13001", "MC-2024-000001",
    "Me voilà", "M. le Maire", "Madame la Préfète", "03.02.2018 17.45", "2 CRS", "RN 7",
    "le 03/02/2018 à 17h45, 12 rue de Rome 13001 Marseille, affaire MC-2024-000001",
    "Vol à l'étalage signalé par le gérant du commerce.",
    "Rixe entre plusieurs individus, dispersés à l'arrivée de la patrouille.",
    "Appel au 17 puis au 112, ITT de 8 jours, 3 blessés.",
    "le 03/02/2018 CRS", "appel 17 h 45", "PV n° 2024/001234", "ITT 3 jours",
    "Match OM-PSG, 65 000 spectateurs, 2 blessés",
    "Intervention à 23h10 au 45 avenue du Prado, 13006.",
]

# Known limits (module docstring), pinned so that a change of behaviour is a decision.
LIMITS = [
    ("Dupont a été interpellé", "Dupont a été interpellé"),  # no civility, no redaction
    ("MM. Dupont et Durand", "MM. [NOM] et Durand"),
    ("véhicule ab-123-cd", "véhicule ab-123-cd"),  # plates in capitals only
    ("M AB 1234", "M [NOM] 1234"),  # a German plate without its dash
    ("taille M. Le suspect", "taille M. [NOM] suspect"),
    ("1500 CRS déployés", "[PLAQUE] déployés"),  # a Spanish plate, for the regex
    ("sur la RN 113 EN direction", "sur la [PLAQUE] direction"),
    ("12 AB 973 CD", "[PLAQUE] CD"),
]


@pytest.mark.parametrize(("text", "expected"), LIMITS)
def test_redact_known_limits_stay_as_documented(text: str, expected: str) -> None:
    assert _one(text)[0] == expected


def test_redact_clears_every_personal_detail_of_the_simulated_police_log() -> None:
    codes = np.array(sorted(LIBELLES))[np.arange(3_000) % len(LIBELLES)]
    texts = narratives(np.random.default_rng(5), codes, pii_share=1.0)
    out, counts = redact(texts)
    assert sum(counts.values()) == 3_000
    assert not out.str.contains(r"\d").any()
    assert not out.str.contains(r"(?:M\.|Mme) \p{Lu}").any()  # no capitalised name left


def _one(text: str) -> tuple[str, dict[str, int]]:
    out, counts = redact(pl.Series([text]))
    return out[0], counts


@pytest.mark.parametrize(
    ("kind", "token"), [(kind, token) for kind, tokens in POSITIVES.items() for token in tokens]
)
def test_redact_replaces_each_kind_in_a_sentence(kind: str, token: str) -> None:
    out, counts = _one(f"Signalé au {token}, patrouille avisée.")
    assert out == f"Signalé au {PLACEHOLDERS[kind]}, patrouille avisée."
    assert counts == {f"redacted:{kind}": 1}


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_redact_keeps_the_civility_and_replaces_the_names(text: str, expected: str) -> None:
    out, counts = _one(text)
    assert out == expected
    assert counts == {"redacted:name": 1}


@pytest.mark.parametrize("text", NEGATIVES)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert _one(text) == (text, {})


def test_redact_counts_per_kind_over_the_column() -> None:
    texts = pl.Series("recit", [
        "Témoin : M. Martin, 06 12 34 56 78, véhicule AB-123-CD.",
        "Rappeler Mme Petit au 04 91 12 34 56 ou par jean.petit@orange.fr.",
        "Virement depuis FR76 3000 6000 0112 3456 7890 189, carte 4970 1012 3456 7890.",
        "NIR 1 85 05 78 006 084 36, plaques 123 ABC 13 et GE 123456.",
        None,
        "",
    ])
    out, counts = redact(texts)
    assert counts == {
        "redacted:email": 1, "redacted:iban": 1, "redacted:nir": 1, "redacted:phone": 2,
        "redacted:card": 1, "redacted:plate": 3, "redacted:name": 2,
    }
    assert list(counts) == [f"redacted:{kind}" for kind in PLACEHOLDERS if f"redacted:{kind}"
                            in counts]
    assert out.name == "recit" and out.dtype == pl.String
    assert out.to_list() == [
        "Témoin : M. [NOM], [TÉL], véhicule [PLAQUE].",
        "Rappeler Mme [NOM] au [TÉL] ou par [COURRIEL].",
        "Virement depuis [IBAN], carte [CARTE].",
        "NIR [NIR], plaques [PLAQUE] et [PLAQUE].",
        None,
        "",
    ]


def test_redact_keeps_nulls_and_accepts_an_all_null_column() -> None:
    out, counts = redact(pl.Series("recit", [None, "M. Dupont", None], dtype=pl.String))
    assert out.to_list() == [None, "M. [NOM]", None] and counts == {"redacted:name": 1}
    out, counts = redact(pl.Series("recit", [None, None]))
    assert out.to_list() == [None, None] and out.dtype == pl.String and counts == {}


def test_redact_is_idempotent() -> None:
    texts = pl.Series([
        *(t for tokens in POSITIVES.values() for t in tokens), *(t for t, _ in NAMES),
        *NEGATIVES, None,
    ])
    once, _ = redact(texts)
    twice, counts = redact(once)
    assert twice.to_list() == once.to_list() and counts == {}


def test_placeholders_cover_every_rule_kind() -> None:
    assert {kind for kind, _ in RULES} == set(PLACEHOLDERS)


def test_redact_runs_on_100k_rows() -> None:
    base = [
        "Témoin : M. Martin, 06 12 34 56 78, véhicule AB-123-CD.",
        "Tapage nocturne signalé par le voisinage le 03/02/2018 à 17h45.",
        None,
        "Vol d'un vélo attaché devant l'immeuble, 12 rue de Rome 13001.",
    ]
    texts = pl.Series("recit", base * 25_000)
    out, counts = redact(texts)
    assert out.len() == 100_000 and out.null_count() == 25_000
    assert counts == {"redacted:phone": 25_000, "redacted:plate": 25_000,
                      "redacted:name": 25_000}
    assert out[3] == base[3]


# --- property: inserted tokens never survive, the words around them always do -------------

SAFE_WORDS = [
    "le", "requérant", "signale", "vol", "véhicule", "à", "rue", "de", "la", "République",
    "Marseille", "témoin", "patrouille", "sur", "place", "voilà", "Canebière", "OM", "CRS",
    "Vélodrome", "a", "été", "contrôlé", "et", "au",
]
# Not a bare short number: "12 OM 13" is an old French plate. And a number right after a token
# can be read as part of it ("1234 BCD 13" is also an old French plate; an international number
# may run on), so tokens are followed by words only.
NUMERIC_WORDS = ["13001", "03/02/2018", "17h45", "12 rue", "MC-2024-000001", "03.02.2018"]

_D = st.integers(0, 9).map(str)
_UPPER = st.sampled_from("ABCDEFGHJKLMNPRSTVWXYZ")
_CONSONANT = st.sampled_from("BCDFGHJKLMNPRSTVWXYZ")


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.lists(_D, min_size=n, max_size=n).map("".join)


def _letters(n: int, alphabet: st.SearchStrategy[str] = _UPPER) -> st.SearchStrategy[str]:
    return st.lists(alphabet, min_size=n, max_size=n).map("".join)


_fr_phone = st.builds(
    lambda first, rest, sep: "0" + first + "".join(sep + rest[i:i + 2] for i in range(0, 8, 2)),
    st.sampled_from("1234679"), _digits(8), st.sampled_from(["", " ", ".", "-"]),
)
_phone = st.one_of(
    _fr_phone,
    st.builds(lambda fr: "+33 " + fr[1:] if " " in fr else "+33" + fr[1:], _fr_phone),
    st.builds(lambda a, b: f"+44 20 {a} {b}", _digits(4), _digits(4)),
    st.builds(lambda a, b: f"+1 {a}-555-{b}", _digits(3), _digits(4)),
    st.builds(lambda a: f"+49 30 {a}", _digits(6)),
)
_email = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9]{0,6}(\.[a-z]{1,6})?", fullmatch=True),
    st.from_regex(r"[a-z]{2,8}", fullmatch=True),
    st.sampled_from(["fr", "com", "org", "eu"]),
)
_plate = st.one_of(
    # Not 971-976: "12 AB 973 CD" reads as the old plate "12 AB 973" (a documented limit).
    st.builds(lambda a, n, b, s: f"{a}{s}{n}{s}{b}", _letters(2),
              st.integers(0, 999).filter(lambda n: not 971 <= n <= 976).map("{:03d}".format),
              _letters(2), st.sampled_from(["-", " ", ""])),
    st.builds(lambda n, a, d: f"{n} {a} {d}", st.integers(1, 9999).map(str),
              st.integers(2, 3).flatmap(_letters), st.sampled_from(["13", "06", "2A", "75"])),
    st.builds(lambda a, b, n: f"{a}-{b} {n}", _letters(1), _letters(2), _digits(4)),
    st.builds(lambda a, n, b: f"{a}{n} {b}", _letters(2), _digits(2), _letters(3)),
    st.builds(lambda n, b: f"{n} {b}", _digits(4), _letters(3, _CONSONANT)),
    st.builds(lambda n, a, m: f"{n}-{a}-{m}", _digits(1), _letters(3), _digits(3)),
    st.builds(lambda c, n: f"{c} {n}", st.sampled_from(["GE", "VD", "ZH"]), _digits(6)),
    st.builds(lambda n, a, m: f"{n}-{a}-{m}", _digits(2), _letters(3), _digits(1)),
)
_iban = st.builds(
    lambda check, bban, spaced: "FR" + check + (
        "".join(" " + bban[i:i + 4] for i in range(0, 23, 4)) if spaced else bban
    ),
    _digits(2), _digits(23), st.booleans(),
)
_TOKENS = {"phone": _phone, "email": _email, "plate": _plate, "iban": _iban}
_token = st.sampled_from(sorted(_TOKENS)).flatmap(
    lambda kind: _TOKENS[kind].map(lambda token: (kind, token))
)


@st.composite
def _narrative(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """A text of safe words with tokens inserted, the text expected after redaction, and
    the inserted tokens."""
    words = [draw(st.sampled_from(SAFE_WORDS + NUMERIC_WORDS))]
    expected = list(words)
    tokens = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            kind, token = draw(_token)
            tokens.append(token)
            words.append(token)
            expected.append(PLACEHOLDERS[kind])
            after = draw(st.sampled_from(SAFE_WORDS))
        else:
            after = draw(st.sampled_from(SAFE_WORDS + NUMERIC_WORDS))
        words.append(after)
        expected.append(after)
    return " ".join(words), " ".join(expected), tokens


@settings(max_examples=400, deadline=None)
@given(_narrative())
def test_redact_removes_inserted_tokens_and_keeps_safe_words(
    case: tuple[str, str, list[str]],
) -> None:
    text, expected, tokens = case
    out = _one(text)[0]
    assert out == expected
    for token in tokens:
        assert token not in out
