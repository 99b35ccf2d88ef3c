"""/metrics over a live two-worker server: request latency by route, business figures."""

from __future__ import annotations

import re
import time

import httpx

from tests.market import buyers, offered_lead


def test_metrics_in_prometheus_format_across_workers(live_server: str, session) -> None:
    buyers(session, 1)
    offered_lead(session)
    for _ in range(6):  # spread over both workers
        assert httpx.get(f"{live_server}/api/v1/communes?postal_code=35000").status_code == 200
    httpx.get(f"{live_server}/api/v1/leads/00000000-0000-0000-0000-000000000000")

    # A worker writes a request's figures as it finishes it: poll briefly.
    deadline = time.monotonic() + 10
    while True:
        answer = httpx.get(f"{live_server}/metrics", timeout=30)
        if "/api/v1/leads/" in answer.text or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    body = answer.text
    counts = re.findall(
        r'mandat_requests_total\{[^}]*path="/api/v1/communes"[^}]*\} (\d+(?:\.\d+)?)', body
    )
    assert sum(float(c) for c in counts) >= 6  # every worker's requests, in one answer
    assert 'path="/api/v1/leads/{lead_id}"' in body  # route templates, not ids
    assert "00000000-0000" not in body
    assert "mandat_request_duration_seconds_bucket" in body
    assert 'mandat_leads{status="qualified"} 1.0' in body
    assert "mandat_outbox_messages" in body
