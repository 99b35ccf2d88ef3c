"""The qualification score of a lead (0–100) and its grade (A, B, C), before any sale.

What an agency values in a seller lead: someone who owns the property, wants to sell soon and
can be reached. The weights are a published model (`SCORE_MODEL`); the grade thresholds are
settings. Each point is explained by a reason code kept with the lead.
"""

from __future__ import annotations

from typing import Any

SCORE_MODEL = "score-v2"  # v2: the confirmed contact counts
BASE = 20  # a French phone and a real e-mail: every lead that reaches scoring has them
TIMELINE_POINTS = {"asap": 35, "lt_3_months": 30, "3_6_months": 20, "gt_6_months": 10, "curious": 0}
OWNER_POINTS = 30
PHONE_POINTS = {"mobile": 10, "landline": 5}
DETAILED_PROPERTY_POINTS = 5  # three optional facts or more: someone who knows the property
# The homeowner clicked "c'est bien moi" in the confirmation e-mail: the contact is theirs.
CONFIRMED_CONTACT_POINTS = 10
OPTIONAL_FACTS = (
    "bedrooms",
    "floor",
    "lift",
    "condition",
    "year",
    "land_m2",
    "parking",
    "outdoor_space",
)


def score_lead(
    timeline: str, is_owner: bool, phone_type: str, property_facts: dict[str, Any]
) -> tuple[int, list[str]]:
    """The score and the reasons that make it up, e.g. `timeline:asap:+35`."""
    reasons = [f"contact:+{BASE}"]
    score = BASE
    points = TIMELINE_POINTS.get(timeline, 0)
    score += points
    reasons.append(f"timeline:{timeline}:+{points}")
    if is_owner:
        score += OWNER_POINTS
        reasons.append(f"owner:+{OWNER_POINTS}")
    else:
        reasons.append("not_owner:+0")
    points = PHONE_POINTS.get(phone_type, 0)
    score += points
    reasons.append(f"phone:{phone_type}:+{points}")
    given = sum(1 for fact in OPTIONAL_FACTS if property_facts.get(fact) is not None)
    if given >= 3:
        score += DETAILED_PROPERTY_POINTS
        reasons.append(f"property_details:{given}:+{DETAILED_PROPERTY_POINTS}")
    return min(score, 100), reasons


def with_confirmed_contact(score: int, reasons: list[str]) -> tuple[int, list[str]]:
    """The score once the homeowner confirmed the contact is theirs (counted once)."""
    reason = f"contact_confirmed:+{CONFIRMED_CONTACT_POINTS}"
    if reason in reasons:
        return score, reasons
    return min(score + CONFIRMED_CONTACT_POINTS, 100), [*reasons, reason]


def grade_for(score: int, settings: dict[str, Any]) -> str:
    if score >= int(settings["grade_a_min_score"]):
        return "A"
    if score >= int(settings["grade_b_min_score"]):
        return "B"
    return "C"
