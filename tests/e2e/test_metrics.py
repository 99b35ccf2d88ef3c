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


def test_F10_metrics_are_hidden_from_clients_relayed_by_a_proxy(live_server: str) -> None:
    """The live server runs behind loopback as its trusted proxy: a request the proxy relays
    (X-Forwarded-For) comes from the Internet, and must not see the sales figures."""
    relayed = httpx.get(f"{live_server}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 404
    assert "mandat_purchases" not in relayed.text


def test_F10_with_a_token_only_a_scraper_sending_it_reads_the_metrics(
    client, session, monkeypatch
) -> None:
    monkeypatch.setenv("MANDAT_METRICS_TOKEN", "s3cret-scraper-token")
    assert client.get("/metrics").status_code == 404
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 404
    good = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper-token"})
    assert good.status_code == 200
    assert "mandat_leads" in good.text


def test_F10_a_client_looping_on_metrics_does_not_rescan_the_tables(
    client, session, monkeypatch
) -> None:
    """The business figures are read at most once per window by a process: a scrape right
    after another answers the figures of the first, however many leads arrived between."""
    import api.metrics

    monkeypatch.setenv("MANDAT_METRICS_TOKEN", "t")
    monkeypatch.setattr(api.metrics, "_figures", (-api.metrics.FIGURES_SECONDS, []))
    bearer = {"Authorization": "Bearer t"}
    first = client.get("/metrics", headers=bearer).text
    assert 'mandat_leads{status="qualified"}' not in first
    buyers(session, 1)
    offered_lead(session)
    assert 'mandat_leads{status="qualified"}' not in client.get("/metrics", headers=bearer).text
    monkeypatch.setattr(api.metrics, "_figures", (-api.metrics.FIGURES_SECONDS, []))
    assert 'mandat_leads{status="qualified"} 1.0' in client.get("/metrics", headers=bearer).text
