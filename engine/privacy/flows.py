"""The homeowner's rights through their private link: the token is the only key. Each service
reads the token, then owns its unit of work."""

from __future__ import annotations

import uuid
from typing import Any

from engine.db import unit_of_work
from engine.privacy.service import erase, export, read_token, withdraw_consent


def export_my_data(token: str) -> dict[str, Any]:
    """Everything held about the homeowner (audited)."""
    lead = read_token(token)
    with unit_of_work() as session:
        return export(session, lead)


def see_my_data(token: str) -> dict[str, Any]:
    """The same data, shown on the homeowner's page (audited as seen, not as exported)."""
    lead = read_token(token)
    with unit_of_work() as session:
        return export(session, lead, audited_as="homeowner.viewed")


def erase_my_data(token: str) -> dict[str, Any]:
    """Personal fields anonymised, the lead withdrawn from sale, buying agencies notified."""
    lead = read_token(token)
    with unit_of_work() as session:
        return erase(session, lead)


def withdraw_my_consent(token: str, agency_id: uuid.UUID) -> dict[str, Any]:
    """This agency may no longer buy or use the lead; if it bought it, it is told."""
    lead = read_token(token)
    with unit_of_work() as session:
        return withdraw_consent(session, lead, agency_id)
