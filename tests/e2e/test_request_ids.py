"""Each request has an id, returned to the caller and on every JSON log line it caused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

LOG = Path(__file__).resolve().parents[2] / "test-artifacts" / "live-server.log"


def test_request_ids_and_json_access_lines(live_server: str) -> None:
    mine = httpx.get(f"{live_server}/healthz", headers={"X-Request-ID": "trace-0123456789"})
    fresh = httpx.get(f"{live_server}/api/v1/communes?postal_code=35000")
    bad = httpx.get(f"{live_server}/healthz", headers={"X-Request-ID": "no spaces allowed!"})

    assert mine.headers["x-request-id"] == "trace-0123456789"
    assert len(fresh.headers["x-request-id"]) == 32
    assert bad.headers["x-request-id"] != "no spaces allowed!"
    time.sleep(0.5)
    lines = [json.loads(line) for line in LOG.read_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("request_id") == "trace-0123456789"]
    assert traced
    assert traced[-1]["route"] == "/healthz"
    assert traced[-1]["status"] == 200
    assert traced[-1]["duration_ms"] >= 0
    communes = next(
        line for line in lines if line.get("request_id") == fresh.headers["x-request-id"]
    )
    assert communes["route"] == "/api/v1/communes"
    assert "35000" not in json.dumps(communes)  # no query string in logs
