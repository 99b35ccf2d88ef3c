"""SIRET, e-mail, phone and commune-name rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.contact.validation import normalise_email, phone_e164, siret_is_valid
from engine.demo.seed import demo_siret
from engine.geo.names import city_matches, normalise


@pytest.mark.parametrize("siret", ["73282932000074", "35600000000048", "35600000049837"])
def test_valid_sirets_pass_including_la_postes_own_rule(siret: str) -> None:
    assert siret_is_valid(siret)


@pytest.mark.parametrize("siret", ["73282932000075", "7328293200007", "7328293200007A", ""])
def test_a_wrong_key_length_or_character_fails(siret: str) -> None:
    assert not siret_is_valid(siret)


@given(st.integers(0, 10**12 - 1))
def test_every_demo_siret_is_valid(number: int) -> None:
    assert siret_is_valid(demo_siret(number))


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_changing_one_digit_of_a_valid_siret_makes_it_invalid(digits: str) -> None:
    valid = demo_siret(int(digits[:12]))
    position = int(digits[12]) % 14
    changed = valid[:position] + str((int(valid[position]) + 1) % 10) + valid[position + 1 :]
    assert not siret_is_valid(changed)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("+33 7 81 23 45 67", "+33781234567"),
        ("01 42 68 53 00", "+33142685300"),
        ("0692 12 34 56", "+262692123456"),
        ("0690 12 34 56", "+590690123456"),
        ("0696 12 34 56", "+596696123456"),
        ("0694 12 34 56", "+594694123456"),
        ("0639 01 23 45", "+262639012345"),
        ("0596 59 60 00", "+596596596000"),
        ("0269 61 10 10", "+262269611010"),
        ("0262 40 00 00", "+262262400000"),
        ("0590 82 00 00", "+590590820000"),
        ("09 70 00 00 00", "+33970000000"),
    ],
)
def test_french_numbers_mainland_and_overseas_become_e164(raw: str, e164: str) -> None:
    assert phone_e164(raw) == e164


@pytest.mark.parametrize("raw", ["07 00 00 00 00", "06 12 34 56", "+44 7700 900123", "abc"])
def test_numbers_that_are_not_french_lines_are_refused(raw: str) -> None:
    assert phone_e164(raw) is None


def test_emails_keep_their_local_part_and_lower_case_their_domain() -> None:
    assert normalise_email("Jean.Dupont@Exemple.FR") == "Jean.Dupont@exemple.fr"
    assert normalise_email("bad@@x.fr") is None


@pytest.mark.parametrize(
    ("typed", "stored", "matches"),
    [
        ("Saint-Étienne", "saint etienne", True),
        ("ST ETIENNE", "saint etienne", True),
        ("Paris", "paris 13e arrondissement", True),
        ("Paris 13", "paris 13e arrondissement", True),
        ("Paris 14", "paris 13e arrondissement", False),
        ("Havre", "le havre", True),
        ("Paris 13e", "paris 13e arrondissement", True),
        ("Lyon 3ème", "lyon 3e arrondissement", True),
        ("Marseille 1er", "marseille 1er arrondissement", True),
        ("paris 13e arrondissement", "paris 13e arrondissement", True),
        ("Paris 3e", "paris 13e arrondissement", False),
        ("Marcq-en-Barœul", "marcq en baroeul", True),
        ("Marcq en Baroeul", "marcq en baroeul", True),
        ("Lyon", "paris 13e arrondissement", False),
        ("", "rennes", False),
    ],
)
def test_what_a_person_types_as_the_city_is_matched_loosely_but_not_wrongly(
    typed: str, stored: str, matches: bool
) -> None:
    assert city_matches(typed, stored) is matches
    assert normalise(stored) == stored
