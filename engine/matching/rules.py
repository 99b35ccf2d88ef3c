"""The pure part of matching (docs/rules.md §3): how candidates found by the database are combined.

The database finds agencies near a point; these functions decide reach, order and the cap, so
they can be read and tested without one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# How a candidate was reached, from the strongest claim to the weakest.
REACHES = ("zone", "communes", "extended_30", "extended_50")

# geography `<->` orders by distance on a sphere of radius 6,371,008.8 m; distances on the WGS84
# spheroid are within these factors of it (radii of curvature 6,335,439 m to 6,399,594 m).
SPHEROID_OVER_SPHERE_MIN = 0.9944
SPHEROID_OVER_SPHERE_MAX = 1.0045


@dataclass(frozen=True)
class Candidate:
    agency_id: uuid.UUID
    agency_name: str
    distance_m: float
    reach: str

    @property
    def distance_km(self) -> float:
        return round(self.distance_m / 1000, 2)


def ranked(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """Nearest first; equal distances by agency id, so the order never depends on the plan."""
    return sorted(candidates, key=lambda c: (c.distance_m, c.agency_id))[:limit]


def merge(*groups: list[Candidate]) -> list[Candidate]:
    """One entry per agency, keeping the strongest reach (groups come strongest first)."""
    seen: dict[uuid.UUID, Candidate] = {}
    for group in groups:
        for candidate in group:
            seen.setdefault(candidate.agency_id, candidate)
    return list(seen.values())


def extension_reach(step_m: int) -> str:
    return f"extended_{step_m // 1000}"


def knn_fetch_is_exact(
    kth_m: float | None, reached: int, last_sphere_m: float, limit: int, fetched_all: bool
) -> bool:
    """Whether the `limit` nearest by the spheroid are surely among rows scanned in sphere order.

    `reached` rows of the scan passed the distance test, the `limit`-th nearest of them at
    `kth_m` on the spheroid. Any row not scanned is at least `last_sphere_m` away on the sphere,
    so at least `last_sphere_m × MIN` on the spheroid; if that is beyond `kth_m`, no unscanned
    row can enter the top `limit`.
    """
    if fetched_all:
        return True
    if reached < limit or kth_m is None:
        return False  # rows beyond the scan may still be within reach
    return last_sphere_m * SPHEROID_OVER_SPHERE_MIN > kth_m
