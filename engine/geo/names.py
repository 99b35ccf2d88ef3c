"""How a person writes a French commune name, reduced to comparable words."""

from __future__ import annotations

import re
import unicodedata

# INSEE "type de nom" (TNCC) → the article that precedes the stored name.
ARTICLES = {"2": "Le ", "3": "La ", "4": "Les ", "5": "L'", "6": "Aux ", "7": "Las ", "8": "Los "}

_ABBREVIATIONS = ((re.compile(r"\bst\b"), "saint"), (re.compile(r"\bste\b"), "sainte"))
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ARRONDISSEMENT = re.compile(r"\b(\d+)\s*(?:e|er|eme)?\s*arrondissement\b")
# What people type after a city's name for an arrondissement: "13", "13e", "1er", "3ème", "3eme
# arrondissement", "13 arr".
_TYPED_ARRONDISSEMENT = re.compile(r"^(.*?)\s+(\d{1,2})\s*(?:e|er|eme|ieme|em)?(?:\s+arr\w*)?$")
# Ligatures have no Unicode decomposition: Marcq-en-Barœul is written "Baroeul".
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def full_name(name: str, type_nom: str) -> str:
    return ARTICLES.get(type_nom, "") + name


def normalise(text: str) -> str:
    """`Saint-Étienne`, `st etienne` and `ST ETIENNE ` all become `saint etienne`."""
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_LIGATURES))
        .encode("ascii", "ignore")
        .decode()
        .lower()
    )
    ascii_text = _NOT_WORD.sub(" ", ascii_text)
    for pattern, replacement in _ABBREVIATIONS:
        ascii_text = pattern.sub(replacement, ascii_text)
    return " ".join(ascii_text.split())


def city_matches(typed: str, commune_search_name: str) -> bool:
    """Whether what was typed names this commune.

    An arrondissement answers to its city's name (`Paris` for `Paris 13e Arrondissement`) and to
    its own; a name with or without its article matches (`Havre` and `Le Havre`).
    """
    query = normalise(typed)
    if not query:
        return False
    if query == commune_search_name:
        return True
    arrondissement = _ARRONDISSEMENT.search(commune_search_name)
    if arrondissement:
        city = commune_search_name[: arrondissement.start()].strip()
        number = _TYPED_ARRONDISSEMENT.match(query)
        if query == city or (
            number
            and number.group(1) == city
            and int(number.group(2)) == int(arrondissement.group(1))
        ):
            return True
    for article in ("le ", "la ", "les ", "l ", "aux ", "las ", "los "):
        if commune_search_name.startswith(article) and query == commune_search_name[len(article) :]:
            return True
    return False
