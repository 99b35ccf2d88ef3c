"""Staff's matching preview: the place found, the rules in force, the ranked candidates."""

from __future__ import annotations

import uuid
from typing import Literal

from msgspec import Struct

from engine.matching.preview import MatchPreview


class CandidateOut(Struct):
    id: uuid.UUID
    name: str
    distance_km: float
    reach: Literal["zone", "communes", "extended_30", "extended_50"]
    rank: int


class PlaceOut(Struct):
    commune_code: str
    commune_name: str
    departement_code: str
    lat: float
    lon: float
    precision: str


class MatchingRulesOut(Struct):
    min_candidates: int
    max_named_agencies: int
    extension_steps_km: list[int]
    version: str


class MatchOut(Struct):
    place: PlaceOut
    rules: MatchingRulesOut
    agencies: list[CandidateOut]

    @classmethod
    def of(cls, preview: MatchPreview) -> MatchOut:
        place, rules = preview.place, preview.rules
        return cls(
            place=PlaceOut(
                place.commune_code, place.commune_name, place.departement_code, place.lat,
                place.lon, place.precision,
            ),
            rules=MatchingRulesOut(
                rules.min_candidates, rules.max_named_agencies,
                [m // 1000 for m in rules.extension_steps_m], rules.version,
            ),
            agencies=[
                CandidateOut(c.agency_id, c.agency_name, c.distance_km, c.reach, rank)  # type: ignore[arg-type]
                for rank, c in enumerate(preview.candidates, start=1)
            ],
        )  # fmt: skip
