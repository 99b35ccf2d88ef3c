"""`/metrics` in the Prometheus text format.

Request latency histograms by route come from Litestar's Prometheus middleware (route templates
as labels, so ids never multiply the series); with several server processes they are shared
through prometheus_client's multiprocess directory, which `mandat serve` prepares. Business
figures — leads by status, purchases, refunds, outbox backlog, job runs — are read from
PostgreSQL at each scrape, so every process answers the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from engine.db import unit_of_work

PROMETHEUS = PrometheusConfig(
    app_name="mandat",
    prefix="mandat",
    group_path=True,
    exclude=["/metrics"],
    exclude_unhandled_paths=True,
)

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
_HELP = {
    "leads": ("mandat_leads", "Leads received, by status (qualified, quarantined, duplicate)."),
    "purchases": ("mandat_purchases", "Purchases, by mode."),
    "refund_requests": ("mandat_refund_requests", "Refund requests, by status."),
    "outbox": ("mandat_outbox_messages", "Notifications, by state (pending is the backlog)."),
    "billing_runs": ("mandat_billing_runs", "Billing runs, finished or not."),
    "job_runs": ("mandat_job_runs", "Scheduled job runs recorded, by job."),
}
_LABEL = {
    "leads": "status",
    "purchases": "mode",
    "refund_requests": "status",
    "outbox": "state",
    "billing_runs": "state",
    "job_runs": "job",
}


class BusinessFigures(Collector):
    def collect(self) -> Iterator[Any]:
        families = {
            key: GaugeMetricFamily(name, doc, labels=[_LABEL[key]])
            for key, (name, doc) in _HELP.items()
        }
        with unit_of_work() as session:
            for family, label, value in session.execute(_FIGURES):
                families[family].add_metric([label], float(value))
        yield from families.values()


@get("/metrics", include_in_schema=False, sync_to_thread=True)
def metrics() -> Response[bytes]:
    requests = REGISTRY  # one process: its own figures
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests = CollectorRegistry()  # every process's figures, from the shared directory
        multiprocess.MultiProcessCollector(requests)  # type: ignore[no-untyped-call]
    business = CollectorRegistry()
    business.register(BusinessFigures())
    body = generate_latest(requests) + generate_latest(business)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
