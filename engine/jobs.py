"""The background jobs `mandat scheduler` runs (mandat.scheduler holds their schedule): offers
turning shared, the catalogue's expired entries, notifications, the monthly billing run and the
runs finance asks for, e-invoices, dunning, reconciliation, retention, speed-to-lead reminders and
the agenda digest.

Each job is a service like any other: short transactions of its own, a report of what it did.
The API never depends on a job having run (offers read their phase from the clock), jobs only
announce and deliver.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from engine.db import unit_of_work
from engine.notify.deliver import deliver_due
from engine.sales.offers import announce_transitions

log = logging.getLogger("mandat.scheduler")
PARIS = ZoneInfo("Europe/Paris")


def announce_offers() -> dict[str, int]:
    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return announce_transitions(session, now)


def purge_catalogue() -> dict[str, int]:
    """The catalogue's entries of expired offers (reads already hide them), a batch at a time."""
    from engine.sales.catalogue import purge_expired

    purged = 0
    while True:
        with unit_of_work() as session:
            done = purge_expired(session)
        purged += done
        if done < 10_000:
            return {"purged": purged}


def deliver_notifications() -> dict[str, int]:
    """Batches until nothing is due; no transaction is open while a receiver answers."""
    totals = {"delivered": 0, "retried": 0, "given_up": 0}
    while True:
        with unit_of_work() as session:
            now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        report = deliver_due(now)
        totals["delivered"] += report.delivered
        totals["retried"] += report.retried
        totals["given_up"] += report.given_up
        if not report.handled:
            return totals


def monthly_billing() -> dict[str, Any]:
    """The month before, on the 1st at 04:00 Paris time."""
    from engine.billing.run import previous_period, run_billing

    now = datetime.now(PARIS)
    return vars(run_billing(previous_period(now), now))


def requested_billing_runs() -> dict[str, Any]:
    """The billing runs finance asked for over the API (`POST /api/v1/billing/runs`)."""
    from engine.billing.requested_runs import run_requested

    return {"runs": [vars(report) for report in run_requested(datetime.now(PARIS))]}


def einvoices() -> dict[str, Any]:
    """Issue the Factur-X of documents written since (outside the billing run and its locks),
    then hand them to the approved platform when one is configured."""
    from engine.billing.einvoice import issue_pending
    from engine.billing.transmit import configured_platform, transmit

    workers = int(os.environ.get("MANDAT_EINVOICE_WORKERS", "1"))
    done: dict[str, Any] = vars(issue_pending(workers=workers))
    if platform := configured_platform():
        done.update(transmit(platform))
    return done


def dunning() -> dict[str, int]:
    from engine.billing.dunning import run_dunning
    from engine.settings import read_settings

    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return run_dunning(session, now, read_settings(session))


def reconciliation() -> dict[str, Any]:
    from engine.billing.reconcile import reconcile

    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        drifts = reconcile(session, now)
    for drift in drifts:
        log.warning("billing drift: %s", drift)
    return {"drifts": len(drifts)}


def retention() -> dict[str, int]:
    from engine.config import access_log_dir
    from engine.privacy.retention import run_retention
    from engine.settings import read_settings

    with unit_of_work() as session:
        now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return run_retention(session, now, read_settings(session), access_log_dir())


def speed_to_lead() -> dict[str, int]:
    """Contacts still waiting for a first call: their worker, then the owners, reminded once."""
    from engine.crm.flows import remind_waiting_contacts

    return remind_waiting_contacts()


def agenda_digests() -> dict[str, int]:
    """Each person's reminders and appointments of the day, once a day (07:00 Paris)."""
    from engine.crm.flows import send_agenda_digests

    return {"sent": send_agenda_digests(datetime.now(PARIS).date())}
