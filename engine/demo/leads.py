"""Synthetic leads for the demo: homeowners spread like the population, each going through the
form's two steps (estimate, matching, qualification, offer) like a real one.

Every synthetic homeowner is labelled: last name "Démo", an address at `demo.mandat.example`
and a phone number from the ranges ARCEP reserves for fiction (01 99 00, 02 61 91, 03 53 01,
04 65 71, 05 36 49 …), so no real person is ever called.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.intake.estimations import EstimationRequest, request_estimate
from engine.intake.submissions import Client, LeadSubmission, submit_lead
from engine.progress import Progress, quiet

FICTION_PREFIXES = ("0199 00", "0261 91", "0353 01", "0465 71", "0536 49")
FIRST_NAMES = ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Gabriel")
TIMELINES = ("asap", "lt_3_months", "3_6_months", "gt_6_months", "curious")


def seed_leads(
    session: Session,
    count: int,
    seed: int = 2026,
    if_empty: bool = False,
    progress: Progress | None = None,
) -> int:
    """`count` demo leads through both steps; returns how many were made."""
    if count <= 0:
        return 0
    if if_empty and session.execute(text("SELECT EXISTS (SELECT 1 FROM lead)")).scalar_one():
        return 0
    if count > 10_000 * len(FICTION_PREFIXES):
        raise ValueError("at most 50,000 demo leads (the fiction phone ranges)")
    places = session.execute(
        text("""
            SELECT DISTINCT ON (c.code) p.postal_code, c.name, coalesce(c.population, 0) AS people
            FROM commune c JOIN postal_code p ON p.commune_code = c.code
            WHERE c.kind <> 'COM' OR c.code NOT IN ('75056', '69123', '13055')
            ORDER BY c.code, p.postal_code
        """)
    ).all()
    weights = np.array([float(p.people) for p in places]) ** 1.1
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(places), size=count, p=weights / weights.sum())
    start = session.execute(text("SELECT count(*) FROM lead")).scalar_one()
    made = 0
    with (progress or quiet)(range(start, start + count), "demo leads") as numbers:
        for n, pick in zip(numbers, picks, strict=True):
            made += _one_lead(session, n, places[int(pick)], rng)
    return made


_AGED = text("UPDATE estimation SET created_at = now() - interval '1 minute' WHERE id = :i")


def _one_lead(session: Session, n: int, place: Any, rng: np.random.Generator) -> int:
    kind = "appartement" if rng.random() < 0.55 else "maison"
    surface = float(round(rng.lognormal(4.1 if kind == "appartement" else 4.6, 0.35)))
    answer = request_estimate(
        session,
        EstimationRequest(
            kind,
            min(max(surface, 12.0), 400.0),
            place.postal_code,
            place.name,
            property_facts={"rooms": int(max(1, surface // 22))},
            source="demo",
        ),
        date.today(),
    )
    if not answer.agencies:
        return 0
    session.execute(_AGED, {"i": answer.id})  # the homeowner read the estimate for a minute
    submit_lead(
        session,
        answer.id,
        LeadSubmission(
            first_name=FIRST_NAMES[n % len(FIRST_NAMES)],
            last_name="Démo",
            email=f"proprietaire.{n}@demo.mandat.example",
            phone=f"{FICTION_PREFIXES[n // 10_000]}{n % 10_000:04d}",
            timeline=TIMELINES[int(rng.integers(len(TIMELINES)))],
            is_owner=bool(rng.random() < 0.9),
            consent_agency_ids=[a.agency_id for a in answer.agencies],
            consent_text_version="consent-2026-11-fr",
            honeypot="",
            # The fictional homeowner ticks the "all agencies" control.
            consent_ticked_via={a.agency_id: "all" for a in answer.agencies},
        ),
        Client(),
    )
    return 1
