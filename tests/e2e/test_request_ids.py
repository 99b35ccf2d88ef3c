"""Each request has an id, returned to the caller and on every JSON log line it caused."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx

LOG = Path(__file__).resolve().parents[2] / "test-artifacts" / "live-server.log"
ACCESS_FILES = LOG.parent / "access-logs"  # MANDAT_ACCESS_LOG_DIR of the live server


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


def test_access_lines_also_go_to_daily_files_per_process_without_the_query(
    live_server: str,
    clean_db: str,  # full rate buckets: earlier tests may have spent this client's link budget
) -> None:
    rid = f"access-file-{uuid.uuid4().hex}"  # the folder outlives test runs
    asked = httpx.get(
        f"{live_server}/api/v1/me/data?token=not-a-real-token-1234",
        headers={"X-Request-ID": rid},
    )

    assert asked.status_code == 403
    time.sleep(0.5)
    files = sorted(ACCESS_FILES.glob("access-*.jsonl"))
    assert files
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert all(re.fullmatch(r"access-\d{4}-\d{2}-\d{2}-\d+\.jsonl", f.name) for f in files)
    written = [f for f in files if f.name.startswith(f"access-{today}-")]
    lines = [json.loads(line) for f in written for line in f.read_text().splitlines()]
    mine = [line for line in lines if line.get("request_id") == rid]
    assert [(m["route"], m["status"]) for m in mine] == [("/api/v1/me/data", 403)]
    assert all("not-a-real-token" not in f.read_text() for f in files)
