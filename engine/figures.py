"""The business figures `/metrics` publishes — leads by status, purchases by mode, refund
requests by status, the notifications' backlog, billing runs, the retention job's runs — counted
in PostgreSQL, so that every server process answers the same."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from engine.db import unit_of_work


@dataclass(frozen=True)
class Figure:
    family: str  # leads, purchases, refund_requests, outbox, billing_runs, job_runs
    label: str  # the status, mode, state or job counted
    value: float


_FIGURES = text("""
    SELECT 'leads' AS family, status AS label, count(*) AS value FROM lead GROUP BY status
    UNION ALL SELECT 'purchases', mode, count(*) FROM purchase GROUP BY mode
    UNION ALL SELECT 'refund_requests', status, count(*) FROM refund_request GROUP BY status
    UNION ALL SELECT 'outbox', CASE WHEN delivered_at IS NOT NULL THEN 'delivered'
                                    WHEN gave_up_at IS NOT NULL THEN 'given_up'
                                    ELSE 'pending' END, count(*)
              FROM outbox GROUP BY 2
    UNION ALL SELECT 'billing_runs', CASE WHEN finished_at IS NULL THEN 'unfinished'
                                          ELSE 'finished' END, count(*)
              FROM billing_run GROUP BY 2
    UNION ALL SELECT 'job_runs', action, count(*) FROM audit_log
              WHERE action = 'retention.ran' GROUP BY action
""")


def business_figures() -> list[Figure]:
    with unit_of_work() as session:
        return [Figure(f, label, float(v)) for f, label, v in session.execute(_FIGURES)]
