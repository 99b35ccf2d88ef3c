"""Staff's matching preview: the place found, the rules in force, the ranked candidates."""

from __future__ import annotations

import uuid
from typing import Literal

from msgspec import Struct


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
