"""Staff's view of a lead, as a service that checks the caller and owns its unit of work."""

from __future__ import annotations

import uuid
from typing import Any

from engine.accounts.keys import Principal
from engine.audit import record
from engine.db import unit_of_work
from engine.intake.leads import lead_for_staff


def lead_as_staff_see_it(caller: Principal, lead_id: uuid.UUID) -> dict[str, Any]:
    """Admin and finance: qualification, bot signals, duplicates, consent, candidates. The read
    is audited: it shows the homeowner's contact (security review F19)."""
    caller.require("admin", "finance")
    with unit_of_work() as session:
        lead = lead_for_staff(session, lead_id)
        record(session, caller, "lead.read_by_staff", "lead", lead_id)
        return lead
