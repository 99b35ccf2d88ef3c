"""`/metrics` in the Prometheus text format.

Request latency histograms by route come from Litestar's Prometheus middleware (route templates
as labels, so ids never multiply the series); with several server processes they are shared
through prometheus_client's multiprocess directory, which `mandat serve` prepares. Business
figures — leads by status, purchases, refunds, outbox backlog, job runs — are read from
PostgreSQL, so every process answers the same; each process reads them at most once every
`FIGURES_SECONDS`, so a client looping on the route cannot keep PostgreSQL scanning.

Who may read it (finding F10: the figures are our sales volumes): with `MANDAT_METRICS_TOKEN`
set, only a scraper sending `Authorization: Bearer <token>`; without it, only a client on this
machine that no proxy relayed (loopback peer, no `X-Forwarded-For`). Anyone else gets a 404,
as if the route did not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
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

from engine.figures import business_figures

PROMETHEUS = PrometheusConfig(
    app_name="mandat",
    prefix="mandat",
    group_path=True,
    exclude=["/metrics"],
    exclude_unhandled_paths=True,
)

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


FIGURES_SECONDS = 15.0
_figures: tuple[float, list[tuple[str, str, float]]] = (-FIGURES_SECONDS, [])
_figures_lock = threading.Lock()


def _business_rows() -> list[tuple[str, str, float]]:
    """The business figures, read at most once every FIGURES_SECONDS by this process."""
    global _figures
    with _figures_lock:
        read_at, rows = _figures
        if time.monotonic() - read_at >= FIGURES_SECONDS:
            rows = [(f.family, f.label, f.value) for f in business_figures()]
            _figures = (time.monotonic(), rows)
        return rows


class BusinessFigures(Collector):
    def collect(self) -> Iterator[Any]:
        families = {
            key: GaugeMetricFamily(name, doc, labels=[_LABEL[key]])
            for key, (name, doc) in _HELP.items()
        }
        for family, label, value in _business_rows():
            families[family].add_metric([label], value)
        yield from families.values()


def _may_scrape(request: Request[Any, Any, Any]) -> bool:
    token = os.environ.get("MANDAT_METRICS_TOKEN")
    if token:
        sent = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(sent, b"Bearer " + token.encode())
    peer = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    return loopback and "x-forwarded-for" not in request.headers


@get("/metrics", include_in_schema=False, sync_to_thread=True)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    if not _may_scrape(request):
        raise NotFoundException()
    requests = REGISTRY  # one process: its own figures
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests = CollectorRegistry()  # every process's figures, from the shared directory
        multiprocess.MultiProcessCollector(requests)  # type: ignore[no-untyped-call]
    business = CollectorRegistry()
    business.register(BusinessFigures())
    body = generate_latest(requests) + generate_latest(business)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
