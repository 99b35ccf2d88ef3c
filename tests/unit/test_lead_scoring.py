"""The qualification score: bounded, explained, and ordered the way agencies value leads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.intake.scoring import OPTIONAL_FACTS, TIMELINE_POINTS, grade_for, score_lead
from engine.settings import DEFAULTS

timelines = st.sampled_from(list(TIMELINE_POINTS))
phones = st.sampled_from(["mobile", "landline"])
facts = st.dictionaries(st.sampled_from(OPTIONAL_FACTS), st.integers(0, 5))


@given(timelines, st.booleans(), phones, facts)
def test_the_score_is_0_to_100_and_its_reasons_add_up(timeline, owner, phone, given_facts) -> None:
    score, reasons = score_lead(timeline, owner, phone, given_facts)

    assert 0 <= score <= 100
    assert sum(int(r.rpartition("+")[2]) for r in reasons) == score


@given(st.booleans(), phones, facts)
def test_a_sooner_sale_never_scores_lower(owner, phone, given_facts) -> None:
    order = ["curious", "gt_6_months", "3_6_months", "lt_3_months", "asap"]
    scores = [score_lead(t, owner, phone, given_facts)[0] for t in order]

    assert scores == sorted(scores)


@given(timelines, phones, facts)
def test_an_owner_always_scores_higher(timeline, phone, given_facts) -> None:
    assert (
        score_lead(timeline, True, phone, given_facts)[0]
        > score_lead(timeline, False, phone, given_facts)[0]
    )


def test_grades_follow_the_thresholds() -> None:
    assert [grade_for(s, DEFAULTS) for s in (100, 70, 69, 40, 39, 0)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
    ]
