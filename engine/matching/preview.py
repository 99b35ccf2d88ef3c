"""Staff's preview of matching: which agencies a lead at this place would be offered to, under
the rules in force."""

from __future__ import annotations

from dataclasses import dataclass

from engine.accounts.keys import Principal
from engine.db import unit_of_work
from engine.geo.locate import Place, locate
from engine.matching.rules import Candidate
from engine.matching.service import match_lead
from engine.settings import MatchingRules, matching_rules


@dataclass(frozen=True)
class MatchPreview:
    place: Place
    rules: MatchingRules
    candidates: list[Candidate]  # ranked, nearest first


def preview_matching(
    caller: Principal, postal_code: str, city: str, lat: float | None, lon: float | None
) -> MatchPreview:
    """Admin and finance."""
    caller.require("admin", "finance")
    with unit_of_work() as session:
        place = locate(session, postal_code, city, lat, lon, path="")
        rules = matching_rules(session)
        return MatchPreview(place, rules, match_lead(session, place, rules))
