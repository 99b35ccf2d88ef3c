"""An agency's day at a glance (Espace Pro's dashboard): what is on offer, what was spent this
month against the budget, where the contacts stand, who is still waiting for a first call, the
refund requests, and an unpaid invoice with the date the account would be suspended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.db import unit_of_work
from engine.sales.buy import SPENT_THIS_MONTH
from engine.sales.catalogue import CatalogueQuery, catalogue
from engine.sales.models import PIPELINE
from engine.settings import read_settings


@dataclass(frozen=True)
class UnpaidInvoice:
    number: str
    total_ttc_cents: int
    suspension_on: date | None  # None: already suspended
    suspended: bool


@dataclass(frozen=True)
class Dashboard:
    offers_now: int  # leads the agency may buy now (at most `OFFERS_SHOWN` counted)
    spent_this_month_cents: int
    budget_cents: int | None
    by_stage: dict[str, int]
    waiting_first_call: int
    refunds_by_status: dict[str, int]
    unpaid: list[UnpaidInvoice]


OFFERS_SHOWN = 100

_NUMBERS = text(f"""
    SELECT a.monthly_budget_cents AS budget, {SPENT_THIS_MONTH} AS spent,
           (SELECT coalesce(jsonb_object_agg(pipeline_status, n), '{{}}') FROM (
                SELECT pipeline_status, count(*) AS n FROM purchase
                WHERE agency_id = a.id GROUP BY 1) s) AS by_stage,
           (SELECT coalesce(jsonb_object_agg(status, n), '{{}}') FROM (
                SELECT status, count(*) AS n FROM refund_request
                WHERE agency_id = a.id GROUP BY 1) r) AS refunds
    FROM agency a WHERE a.id = :agency
""")

_UNPAID = text("""
    SELECT i.number, i.total_ttc_cents, d.failed_at, d.suspended_at
    FROM dunning d JOIN invoice i ON i.id = d.invoice_id
    WHERE d.agency_id = :agency AND d.resolved_at IS NULL
    ORDER BY d.failed_at
""")


def agency_dashboard(caller: Principal) -> Dashboard:
    agency_id = caller.agency()
    with unit_of_work() as session:
        offers = catalogue(session, agency_id, CatalogueQuery(limit=OFFERS_SHOWN)).items
        numbers = (
            session.execute(_NUMBERS, {"agency": agency_id, "now": datetime.now(UTC)})
            .mappings()
            .one()
        )
        unpaid = session.execute(_UNPAID, {"agency": agency_id}).all()
        suspend_after = int(read_settings(session)["dunning_suspend_days"])
    by_stage = {stage: int(numbers["by_stage"].get(stage, 0)) for stage in PIPELINE}
    return Dashboard(
        offers_now=len(offers),
        spent_this_month_cents=int(numbers["spent"]),
        budget_cents=numbers["budget"],
        by_stage=by_stage,
        waiting_first_call=by_stage.get("new", 0),
        refunds_by_status={k: int(v) for k, v in numbers["refunds"].items()},
        unpaid=[_unpaid(row, suspend_after) for row in unpaid],
    )


def _unpaid(row: object, suspend_after: int) -> UnpaidInvoice:
    failed_at: datetime = row.failed_at  # type: ignore[attr-defined]
    suspended = row.suspended_at is not None  # type: ignore[attr-defined]
    on = None if suspended else (failed_at + timedelta(days=suspend_after)).date()
    return UnpaidInvoice(row.number, row.total_ttc_cents, on, suspended)  # type: ignore[attr-defined]
