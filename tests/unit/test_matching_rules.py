"""The pure rules that combine what the database finds."""

from __future__ import annotations

import uuid

from engine.matching.rules import Candidate, knn_fetch_is_exact, merge, ranked


def candidate(distance: float, reach: str = "zone", agency: int = 0) -> Candidate:
    return Candidate(uuid.UUID(int=agency), f"A{agency}", distance, reach)


def test_a_scan_that_read_everything_in_the_bound_is_exact() -> None:
    assert knn_fetch_is_exact(None, 0, 0.0, limit=10, fetched_all=True)


def test_a_capped_scan_with_too_few_covering_agencies_proves_nothing() -> None:
    assert not knn_fetch_is_exact(200.0, 2, 900.0, limit=3, fetched_all=False)


def test_a_capped_scan_is_exact_when_the_unread_are_surely_farther_on_the_spheroid() -> None:
    assert knn_fetch_is_exact(300.0, 5, 1_000.0, limit=3, fetched_all=False)
    assert not knn_fetch_is_exact(999.0, 5, 1_000.0, limit=3, fetched_all=False)


def test_ranking_is_by_distance_then_agency_id_and_capped() -> None:
    rows = [candidate(5.0, agency=3), candidate(1.0, agency=2), candidate(5.0, agency=1)]

    assert [c.agency_id.int for c in ranked(rows, 2)] == [2, 1]


def test_merging_keeps_the_strongest_reach_for_an_agency_found_twice() -> None:
    merged = merge(
        [candidate(9.0, "zone", 1)], [candidate(9.0, "communes", 1), candidate(3.0, "communes", 2)]
    )

    assert sorted((c.agency_id.int, c.reach) for c in merged) == [(1, "zone"), (2, "communes")]
