"""What a person types as a street: its house number, repetition index and comparable words."""

from __future__ import annotations

import pytest

from engine.geo.street_names import parse_street, street_key


@pytest.mark.parametrize(
    ("typed", "number", "rep", "key"),
    [
        ("12 bd Voltaire", 12, "", "boulevard voltaire"),
        ("12B, Bd Voltaire", 12, "b", "boulevard voltaire"),
        ("12 bis boulevard voltaire", 12, "bis", "boulevard voltaire"),
        ("12bis Bd. Voltaire", 12, "bis", "boulevard voltaire"),
        ("13T avenue jean-jaures", 13, "t", "avenue jean jaures"),
        ("13 ter av. Jean Jaurès", 13, "ter", "avenue jean jaures"),
        ("3 r. st éloi", 3, "", "rue saint eloi"),
        ("1 r de la Paix", 1, "", "rue de la paix"),  # "r" is rue, not an index
        ("12 Allée des Tilleuls", 12, "", "allee des tilleuls"),
        ("12-14 rue de la Paix 75011 Paris", 12, "", "rue de la paix"),
        ("Le Bourg", None, "", "le bourg"),
        ("rue du 8 mai 1945", None, "", "rue du 8 mai 1945"),
        ("9 av du mal foch", 9, "", "avenue du marechal foch"),
        ("", None, "", ""),
    ],
)
def test_a_typed_street_gives_its_number_index_and_words(
    typed: str, number: int | None, rep: str, key: str
) -> None:
    address = parse_street(typed)
    assert (address.number, address.rep, address.key) == (number, rep, key)


def test_the_ban_spelling_and_the_abbreviated_one_compare_equal() -> None:
    assert street_key("Rue du Général de Gaulle") == street_key("R. du Gal de Gaulle")
    assert street_key("Boulevard Saint-Éloi") == street_key("BD ST ELOI")
    assert street_key("Rue de l'Église") == street_key("rue de l eglise")


def test_a_typed_index_prefers_the_bans_spelling_of_it() -> None:
    assert parse_street("12B bd Voltaire").reps == ("bis", "b")
    assert parse_street("12 bis bd Voltaire").reps == ("bis", "b")
    assert parse_street("12 bd Voltaire").reps == ("",)
