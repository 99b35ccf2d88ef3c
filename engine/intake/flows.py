"""The estimation form's services, as the API (and any other front) calls them: each owns its
unit of work. Public: no caller, the request's origin instead where the bot checks need it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from engine.db import retried, unit_of_work
from engine.geo.addresses import StreetSuggestion, suggest_streets
from engine.geo.gazetteer import communes_for_postal_code
from engine.intake.consent import consent_text
from engine.intake.estimations import EstimationAnswer, EstimationRequest, request_estimate
from engine.intake.submissions import Client, LeadReceipt, LeadSubmission, submit_lead


@dataclass(frozen=True)
class ConsentWording:
    version: str
    lang: str
    text: str


@retried
def estimate_property(request: EstimationRequest, today: date) -> EstimationAnswer:
    """Step 1: the estimate and the agencies named for the place; no personal data.

    Each statement commits on its own (autocommit): the reads need no transaction and go in one
    round trip, the write is one row in a second."""
    with unit_of_work() as session:
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return request_estimate(session, request, today)


@retried
def receive_lead(
    estimation_id: uuid.UUID, submission: LeadSubmission, client: Client
) -> LeadReceipt:
    """Step 2: the same receipt whether the lead is qualified, quarantined or a duplicate."""
    with unit_of_work() as session:
        return submit_lead(session, estimation_id, submission, client)


@retried
def consent_wording(lang: str) -> ConsentWording:
    """The consent wording in force (French unless English is asked) and its version."""
    with unit_of_work() as session:
        version, text = consent_text(session, lang)
    return ConsentWording(version, "en" if lang == "en" else "fr", text)


@retried
def communes_serving(postal_code: str) -> list[tuple[str, str]]:
    """(code, name) of the communes a postal code serves; none for an unknown one."""
    with unit_of_work() as session:
        return communes_for_postal_code(session, postal_code[:10])


@retried
def streets_matching(postal_code: str, typed: str, city: str = "") -> list[StreetSuggestion]:
    """The streets of the BAN a postal code's communes have that match what was typed; none
    when the BAN is not loaded there."""
    with unit_of_work() as session:
        return suggest_streets(session, postal_code[:10], typed[:200], city[:100])
