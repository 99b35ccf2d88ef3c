"""How a person writes a French street address, reduced to a house number and comparable words.

The BAN writes names in full ("Boulevard Voltaire", "Rue Saint-Éloi"); people type "bd voltaire",
"12B, Bd Voltaire", "r. st eloi". Both sides go through `street_key`, so the words compare equal
whichever way they were written: accents and punctuation dropped, lower case, and the usual
abbreviations of La Poste and the cadastre (AFNOR XP Z10-011) written out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from engine.geo.names import normalise

# Abbreviation → the word in full. Kinds of way first, then titles and words of names.
ABBREVIATIONS = {
    "all": "allee", "av": "avenue", "ave": "avenue", "avn": "avenue", "bd": "boulevard",
    "bld": "boulevard", "blvd": "boulevard", "boul": "boulevard", "bvd": "boulevard",
    "car": "carrefour", "ch": "chemin", "che": "chemin", "chem": "chemin", "cite": "cite",
    "crs": "cours", "esp": "esplanade", "fbg": "faubourg", "fg": "faubourg", "ham": "hameau",
    "hle": "halle", "imp": "impasse", "lot": "lotissement", "mte": "montee", "pass": "passage",
    "pl": "place", "prom": "promenade", "qu": "quai", "qua": "quai",
    "r": "rue", "res": "residence", "rle": "ruelle", "rpt": "rond point", "rte": "route",
    "sq": "square", "sen": "sentier", "tra": "traverse", "vla": "villa",
    "st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes", "gal": "general",
    "gen": "general", "mal": "marechal", "pdt": "president", "pres": "president",
    "dr": "docteur", "doct": "docteur", "prof": "professeur", "cdt": "commandant",
    "cmdt": "commandant", "lt": "lieutenant", "cpt": "capitaine", "cne": "capitaine",
    "col": "colonel", "adj": "adjudant", "sgt": "sergent", "mgr": "monseigneur",
    "gd": "grand", "gde": "grande", "gds": "grands", "gdes": "grandes", "pt": "petit",
    "pte": "petite", "nd": "notre dame",
}  # fmt: skip

# A repetition index as typed → the ones the BAN may hold for it, best first: "12B" is most
# often "12 bis" where the commune numbers with bis/ter, "12 b" where it numbers with letters.
REPETITIONS = {
    "bis": ("bis", "b"), "b": ("bis", "b"), "ter": ("ter", "t", "c"), "t": ("ter", "t"),
    "quater": ("quater", "q", "d"), "q": ("quater", "q"), "quinquies": ("quinquies",),
    "a": ("a",), "c": ("c", "ter"), "d": ("d", "quater"), "e": ("e",), "f": ("f",),
}  # fmt: skip
_NUMBER = re.compile(
    r"^\s*(\d{1,5})\s*(?:[-/]\s*\d{1,5}\s*)?"  # 12, or 12-14 (the first)
    r"(bis|ter|quater|quinquies|[a-hqt](?![a-z]))?"  # 12B, 12 bis, 13T (never "r" for rue)
    r"(?![0-9])[\s,.]*(.*)$",
    re.IGNORECASE | re.DOTALL,
)
# A postal code typed into the street field, and the city after it: not part of the street.
_TRAILING_PLACE = re.compile(r"[\s,]+\d{5}\b.*$", re.DOTALL)


@dataclass(frozen=True)
class TypedAddress:
    number: int | None
    rep: str  # "" when none was typed
    street: str  # what remains, as typed
    key: str  # the street's comparable words

    @property
    def reps(self) -> tuple[str, ...]:
        """The repetition indices of the BAN this address may be, best first."""
        return REPETITIONS.get(self.rep, (self.rep,)) if self.rep else ("",)


@lru_cache(maxsize=65_536)
def street_key(name: str) -> str:
    """`Bd Saint-Éloi`, `boulevard st eloi` and `BOULEVARD SAINT ELOI` → `boulevard saint eloi`."""
    words = normalise(name).split()
    return " ".join(ABBREVIATIONS.get(word, word) for word in words)


def parse_street(typed: str) -> TypedAddress:
    """The house number, its repetition index and the street of what a person typed."""
    text = _TRAILING_PLACE.sub("", typed or "").strip()
    match = _NUMBER.match(text)
    if match and match.group(3).strip():
        number, rep, street = int(match.group(1)), (match.group(2) or "").lower(), match.group(3)
        # "1 A rue …": a lone capital letter is an index only when a street follows it.
        return TypedAddress(number, rep, street.strip(), street_key(street))
    return TypedAddress(None, "", text, street_key(text))
