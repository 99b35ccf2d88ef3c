"""How a refund request is decided when it is asked (engine/refunds/rules.py), on plain values:
the order of the rules and their edges. tests/e2e/test_refunds.py drives the same rules through
the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from engine.refunds.models import REASONS
from engine.refunds.rules import Case, Rules, first_decision, over_review_rate

BOUGHT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RULES = Rules(window=timedelta(days=7), review_rate_bp=3000)
cents = st.integers(min_value=0, max_value=10_000_000)

cases = st.builds(
    Case,
    reason=st.sampled_from(REASONS),
    bought_at=st.just(BOUGHT),
    reach=st.sampled_from((None, "zone", "extended_30", "extended_50")),
    consent_withdrawn=st.booleans(),
    same_person_bought_before=st.booleans(),
    phone_dialable=st.booleans(),
    refunded_30d_cents=cents,
    bought_30d_cents=cents,
)
within = st.timedeltas(min_value=timedelta(0), max_value=RULES.window).map(lambda d: BOUGHT + d)
after = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)).map(
    lambda d: BOUGHT + RULES.window + d
)


@given(cases, after)
def test_a_request_after_the_window_is_rejected_whatever_the_case(case, now) -> None:
    decision = first_decision(case, RULES, now)
    assert (decision.status, decision.rule) == ("rejected", "auto:late")


def test_the_last_instant_of_the_window_is_still_within_it() -> None:
    case = Case("fake", BOUGHT, None, True, False, True, 0, 0)
    assert first_decision(case, RULES, BOUGHT + RULES.window).status == "approved"


@given(cases, within, st.sampled_from(("extended_30", "extended_50")))
def test_out_of_zone_on_a_lead_bought_as_extended_reach_is_rejected(case, now, reach) -> None:
    decision = first_decision(replace(case, reason="out_of_zone", reach=reach), RULES, now)
    assert (decision.status, decision.rule) == ("rejected", "auto:bought_as_extended")


@given(cases, within)
def test_an_agency_over_the_review_rate_is_never_refunded_by_a_rule(case, now) -> None:
    decision = first_decision(case, RULES, now)
    extended = case.reason == "out_of_zone" and case.reach in ("extended_30", "extended_50")
    if over_review_rate(case.refunded_30d_cents, case.bought_30d_cents, 3000) and not extended:
        assert (decision.status, decision.review_reason) == (
            "pending",
            "refund_rate_over_threshold",
        )
    assert decision.status != "approved" or not over_review_rate(
        case.refunded_30d_cents, case.bought_30d_cents, 3000
    )


@given(cases, within)
def test_a_rule_approves_only_what_our_records_prove(case, now) -> None:
    case = replace(case, refunded_30d_cents=0)  # under the review rate
    decision = first_decision(case, RULES, now)
    if case.reason == "out_of_zone" and case.reach in ("extended_30", "extended_50"):
        return
    if case.consent_withdrawn:
        assert decision.rule == "auto:consent_withdrawn"
    elif case.reason == "duplicate" and case.same_person_bought_before:
        assert decision.rule == "auto:duplicate"
    elif case.reason == "wrong_number" and not case.phone_dialable:
        assert decision.rule == "auto:invalid_phone"
    else:
        assert (decision.status, decision.rule, decision.review_reason) == ("pending", None, None)
    if decision.rule is not None:
        assert decision.status == "approved"


@given(cents, st.integers(min_value=1, max_value=10_000_000), st.integers(0, 10_000))
def test_the_review_rate_is_a_strict_share_of_the_months_purchases(refunded, bought, rate) -> None:
    assert over_review_rate(refunded, bought, rate) == (
        Fraction(refunded, bought) > Fraction(rate, 10_000)
    )
    assert not over_review_rate(refunded, 0, rate)  # nothing bought: no rate


def test_exactly_the_review_rate_is_not_over_it() -> None:
    assert not over_review_rate(3_000, 10_000, 3000)
    assert over_review_rate(3_001, 10_000, 3000)
