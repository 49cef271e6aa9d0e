"""Minimisation at the door for free text: personal data in narratives become placeholders.

Free text (the police log's ``recit``, a field agent's comment) is **dropped** by every
connector's allowlist by default. When a mapping explicitly keeps a narrative, it goes through
:func:`redact` first, which replaces what regular expressions can recognise with a placeholder
of its kind and counts what it did (the counts feed ``ParsedFile.minimised``)::

    >>> import polars as pl
    >>> out, counts = redact(pl.Series(["Témoin : Mme Dupont, 06 12 34 56 78, AB-123-CD.", None]))
    >>> out.to_list()
    ['Témoin : Mme [NOM], [TÉL], [PLAQUE].', None]
    >>> counts
    {'redacted:phone': 1, 'redacted:plate': 1, 'redacted:name': 1}

How: :data:`RULES` is one ordered list of ``(kind, regex)``; each rule is applied to the whole
column with polars' ``str.count_matches`` and ``str.replace_all`` (Rust ``regex`` syntax, which
has no look-around), never with a Python loop per row. Instead of look-around, a rule may check
context and put it back: a prefix in a group named ``keep`` (the civility before a name), a
suffix in one named ``tail``. The most specific rules come first, so that a later, looser rule
never sees a piece of an earlier match: e-mail before everything (its local part may hold
digits), IBAN before phone and card (an IBAN's digits would look like a card), social-security
number before card, plates before names (``M-AB 123`` is a German plate, not "M." + a name).
Placeholders never match any rule, so redacting twice changes nothing more (but for one
case of old plates, under known limits).

What is caught:

- **e-mail** addresses (Unicode letters allowed);
- **IBAN**: two capital letters, two check digits, then 11 to 30 letters or digits, in groups of
  four separated by single spaces or not at all (``FR76 3000 6000 0112 3456 7890 189``);
- **NIR** (French social-security number): 15 digits starting with 1 or 2 (13 without the
  key), Corsica's ``2A``/``2B`` allowed, written contiguously or grouped as on the card
  (``1 85 05 78 006 084 36``, spaces or dots);
- **phone** numbers: French ones (``0612345678``, ``06 12 34 56 78``, ``06.12.34.56.78``,
  ``-``, ``/`` or non-breaking spaces, one separator used throughout), ``+33``/``0033`` with an
  optional ``(0)``, and international ones starting with ``+`` or ``00`` (country code, an
  optional ``(0)`` or ``(area)``, then 6 to 14 digits with single separators, the E.164 cap);
- **card** numbers: 13 to 19 contiguous digits, or groups of four (``4970 1012 3456 7890``,
  19-digit ``4-4-4-4-3``) and the American Express ``4-6-5`` grouping;
- **plates**: French SIV (``AB-123-CD``, ``AB 123 CD``, ``AB123CD``, also Italy's format),
  old French FNI (``123 ABC 13``, ``1234 AB 13``, ``123 ABC 2A``, overseas ``97x``), Germany
  (``M-AB 1234``, with the dash), the United Kingdom (``AB12 CDE``), Spain (``1234 BCD``, no
  vowels), Belgium (``1-ABC-123``), Switzerland (canton + 3 to 6 digits, ``GE 123456``) and the
  Netherlands' dashed side-codes (``12-ABC-3``, ``AB-123-C``…);
- **names** after a civility — ``M.``, ``M``, ``MM.``, ``Mr``, ``Mrs``, ``Ms``, ``Mme``,
  ``Mmes``, ``Mlle``, ``Monsieur``, ``Madame``, ``Mademoiselle`` (these in any case), ``Dr``,
  ``Docteur``, ``Me``, ``Maître`` — followed by one to three capitalised words (hyphens,
  apostrophes and accents allowed, ``DUPONT`` too), with an optional leading initial (``J.``
  or ``J.-P.``) and particle (``de``, ``du``, ``des``, ``de la``, ``d'``, ``van``, ``von``; not
  ``le``/``la``, so that "M. le Maire" stays), and particles between the words (those, and
  ``di``, ``da``, ``le``, ``la``, ``el``, ``ben``…). The civility is kept:
  ``Mme Marie-Hélène Dupont-Leroy`` becomes ``Mme [NOM]``.

What survives on purpose (tested): dates (``03/02/2018``), times (``17h45``, ``17H45``), house
numbers (``12 rue de Rome``), postcodes (``13001``), case numbers (``MC-2024-000001``),
``M. le Maire``, ``Me voilà``.

Known limits — why narratives are dropped unless a mapping keeps them on purpose:

- **A name without a civility is not caught** ("Dupont a été interpellé", "témoin : Karim"),
  nor a second name after ``et`` ("MM. Dupont et Durand" keeps "Durand"), nor a name written
  in lower case. Neither are addresses, birth dates, ages or any other quasi-identifier.
- ``M`` and ``Me`` alone are civilities only when a capitalised word follows: "Me voilà" is
  left alone, but "taille M. Le suspect…" loses "Le" to ``[NOM]``, and up to three capitalised
  words after a civility go ("M. Dupont Marseille" → "M. [NOM]"). These err on the side of
  privacy.
- Plates are matched in capitals only ("ab-123-cd" survives), German ones with their dash
  only ("M AB 1234" becomes "M [NOM] 1234"), and other countries' formats than those above
  not at all. Some ordinary words look like plates and are redacted: "1500 CRS" (Spanish),
  "RN 113 EN" in all-capital text (SIV). Old French plates are matched before SIV ones, so a
  number just before a SIV plate with digits 971–976 is read as one ("12 AB 973 CD" →
  "[PLAQUE] CD"), and two old plates with a single space between need a second pass.
- An international phone number (``+``/``00``) followed by another number with only a space
  between may absorb digits of it, up to the 15-digit cap. Card numbers are not
  Luhn-checked: any run of 13 to 19 digits (a SIRET) is redacted as a card.
- Obfuscated data ("jean at gmail dot com", "zéro six douze…") is not caught.
"""

from __future__ import annotations

import polars as pl

PLACEHOLDERS: dict[str, str] = {
    "email": "[COURRIEL]",
    "iban": "[IBAN]",
    "nir": "[NIR]",
    "phone": "[TÉL]",
    "card": "[CARTE]",
    "plate": "[PLAQUE]",
    "name": "[NOM]",
}
"""The placeholder that replaces each kind of personal data."""

# A horizontal space: names and numbers do not run across line breaks.
_SP = r"[ \t\x{00A0}\x{202F}]"
_CAP = r"[A-Z]"  # plates are written in capitals
_CIVILITY = (
    r"(?i:monsieur|madame|mademoiselle|messieurs|mesdames|mmes|mme|mlles|mlle)"
    r"|Docteur|Ma[iî]tre|Mrs|Mr|Ms|Dr|MM|Me|M"
)
_NAME = r"\p{Lu}[\p{L}\p{M}]*(?:['’\-]\p{L}[\p{L}\p{M}]*)*"
_PARTICLE = (
    rf"{_SP}+(?:(?:de la|van der|van den|von der|de|du|des|del|della|di|da|dos|van|von|"
    rf"der|den|le|la|el|al|ben|bin|ibn){_SP}+|d['’])"
)
# Not "le"/"la": "M. le Maire" is a title, not a name.
_LEADING = r"(?:de la|de|du|des|van|von|d['’])"
_INITIAL = rf"\p{{Lu}}\.(?:-\p{{Lu}}\.)?{_SP}*"
_FR_PAIRS = "|".join(rf"(?:{sep}\d{{2}}){{4}}" for sep in (" ", r"\.", "-", "/", r"\x{00A0}"))
_CARD_GROUPS = "|".join(
    rf"\d{{4}}(?:{sep}\d{{4}}){{2}}{sep}\d{{1,4}}(?:{sep}\d{{3}})?|\d{{4}}{sep}\d{{6}}{sep}\d{{4,5}}"
    for sep in (" ", "-")
)
# Plates starting with digits must not start inside a date: "le 03/02/2018 CRS".
_NOT_IN_DATE = r"(?P<keep>^|[^\w/.])"
_FNI_LETTERS = "|".join(rf"{sep}[A-Z]{{2,3}}{sep}" for sep in (" ", "-", ""))
_SWISS_CANTONS = (
    "AG|AI|AR|BE|BL|BS|FR|GE|GL|GR|JU|LU|NE|NW|OW|SG|SH|SO|SZ|TG|TI|UR|VD|VS|ZG|ZH"
)
_NL_SIDECODES = "|".join(
    p.replace("L", _CAP).replace("9", r"\d")
    for p in (
        "99-LLL-9", "9-LLL-99", "LL-999-L", "L-999-LL", "LLL-99-L", "L-99-LLL",
        "LL-99-LL", "99-LL-99", "99-99-LL", "LL-99-99", "LL-LL-99", "99-LL-LL",
    )
)

_RULES = (
    ("email", r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.\p{L}{2,}\b"),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
    # Contiguous (the key may stand apart), or grouped as on the carte Vitale.
    ("nir", r"\b[12]\d{4}(?:\d{2}|2[ABab])\d{6}(?: ?\d{2})?\b"),
    ("nir", r"\b[12](?: \d{2}){2} (?:\d{2}|2[ABab])(?: \d{3}){2}(?: \d{2})?\b"),
    ("nir", r"\b[12](?:\.\d{2}){2}\.(?:\d{2}|2[ABab])(?:\.\d{3}){2}(?:\.\d{2})?\b"),
    # One separator throughout, so that "03.02.2018 17.45" is not a phone number.
    ("phone", rf"\b0[1-9](?:\d{{8}}|{_FR_PAIRS})\b"),
    ("phone", r"(?:\+|\b00)33[ .\-]?(?:\(0\)[ .\-]?)?[1-9](?:[ .\-]?\d{2}){4}\b"),
    (
        "phone",
        r"(?:\+|\b00)[1-9]\d{0,2}[ .\-]?(?:\(0\)[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?"
        r"\d(?:[ .\-]?\d){5,13}\b",
    ),
    # One separator throughout, so that "MC-2024-000001 1000" is not an Amex number.
    ("card", rf"\b(?:\d{{13,19}}|{_CARD_GROUPS})\b"),
    # Dashed formats and the UK's cannot be read as a part of another format.
    ("plate", r"\b\d-[A-Z]{3}-\d{3}\b"),  # Belgium
    ("plate", rf"\b(?:{_NL_SIDECODES})\b"),  # Netherlands
    ("plate", r"\b[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} \d{1,4}[EH]?\b"),  # Germany
    ("plate", r"\b[A-Z]{2}\d{2} ?[A-Z]{3}\b"),  # United Kingdom
    # Old French FNI before SIV: "OM 100 AA 13" holds a SIV-like "OM 100 AA". One separator
    # throughout, two or three letters ("17H45" stays a time), and not inside a date.
    (
        "plate",
        rf"{_NOT_IN_DATE}\d{{1,4}}(?:{_FNI_LETTERS})(?:97[1-6]|\d{{2}}|2[AB])"
        r"(?P<tail>$|[^\w/.]|\.(?:$|\D))",
    ),
    ("plate", r"\b[A-Z]{2}[ \-]?\d{3}[ \-]?[A-Z]{2}\b"),  # French SIV, Italy
    # Switzerland after SIV, whose "GE-123-AB" it would cut short.
    ("plate", rf"\b(?:{_SWISS_CANTONS})[ \-]?\d{{3,6}}\b"),  # Switzerland
    # Spain after the FNI, whose "1234 BCD 13" it would cut short.
    ("plate", rf"{_NOT_IN_DATE}\d{{4}}[ \-]?[BCDFGHJKLMNPRSTVWXYZ]{{3}}\b"),
    (
        "name",
        rf"\b(?P<keep>(?:{_CIVILITY})(?:\.{_SP}*|{_SP}+))"
        rf"(?:{_INITIAL})?(?:{_LEADING}{_SP}*)?{_NAME}(?:(?:{_PARTICLE}|{_SP}+){_NAME}){{0,2}}",
    ),
)
# Word boundaries are made ASCII-only: a Unicode ``\b`` keeps the regex engine off its fast path
# on accented text (ten times slower). The only difference is that an accented letter does
# not glue to a token: "é0612345678" is still a phone number.
RULES: tuple[tuple[str, str], ...] = tuple(
    (kind, pattern.replace(r"\b", r"(?-u:\b)")) for kind, pattern in _RULES
)
"""The ordered ``(kind, regex)`` rules; groups named ``keep`` and ``tail`` (context the rule
checks but does not redact) are put back around the placeholder."""


def redact(texts: pl.Series) -> tuple[pl.Series, dict[str, int]]:
    """Replace personal data in every text with placeholders.

    Args:
        texts: free text, one row per record; nulls stay null.

    Returns:
        The redacted series (same name and length) and how many items of each kind were
        replaced, as ``{"redacted:phone": 12, ...}`` (kinds with none are left out), in the
        order of :data:`PLACEHOLDERS`.
    """
    column = "text"
    frame = texts.cast(pl.String).to_frame(column).lazy()
    for i, (kind, pattern) in enumerate(RULES):
        keep = "${keep}" if "(?P<keep>" in pattern else ""
        tail = "${tail}" if "(?P<tail>" in pattern else ""
        # Both expressions read the column as it was before this rule: count, then replace.
        frame = frame.with_columns(
            pl.col(column).str.count_matches(pattern).alias(f"__n{i}"),
            pl.col(column).str.replace_all(pattern, keep + PLACEHOLDERS[kind] + tail),
        )
    done = frame.collect()
    totals = done.select(pl.exclude(column).sum()).row(0)
    found = dict.fromkeys(PLACEHOLDERS, 0)
    for (kind, _), n in zip(RULES, totals, strict=True):
        found[kind] += n or 0
    counts = {f"redacted:{kind}": n for kind, n in found.items() if n}
    return done.get_column(column).alias(texts.name), counts
