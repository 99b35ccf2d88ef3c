"""The OpenAPI document is a contract a generated client can trust: schemathesis sends every
operation generated requests on a live server, as an admin and as an agency buyer, and every
answer must be one the document declares (status, content type, body schema), never a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.accounts.authentication import authenticate
from engine.privacy.links import make_token
from engine.refunds.requesting import request_refund
from engine.sales.buy import PurchaseRequest, purchase_lead
from tests.conftest import issue_key
from tests.market import buyers, offered_lead
from tests.processes import ARTIFACTS

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
    ]
)


def schemathesis(
    base: str, key: str, name: str, ids: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """One bounded, seeded run of the schemathesis command line against the live server. The
    path and query parameters in `ids` are pinned to real objects, so the answers of reads by
    id are checked too, not only their 404s."""
    report = ARTIFACTS / f"schemathesis-{name}"
    config = ARTIFACTS / f"schemathesis-{name}.toml"
    pinned = ", ".join(f'"{where}" = "{value}"' for where, value in ids.items())
    config.write_text(f"parameters = {{ {pinned} }}\n")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{base}/schema/openapi.json",
        "--url",
        base,
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {key}",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "8",
        "--seed",
        "18",
        # One worker: with two threads, hypothesis (it parses source to describe strategies)
        # once met CPython 3.11's spurious "AST constructor recursion depth mismatch".
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--exclude-deprecated",
        "--report",
        "ndjson",
        "--report-dir",
        str(report),
        "--output-truncate",
        "true",
        "--no-color",
    ]
    # Its cache of crashes goes with the other artifacts, not into the work tree.
    return subprocess.run(
        command, cwd=ARTIFACTS, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def world(live_server: str, stripe_fake: str, session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An agency buyer with a lead on offer and one bought, a refund asked for it, the
    homeowner's link, and an admin key."""
    (buyer,) = buyers(session, 1)
    offered_lead(session, consent_to=[buyer])
    bought = offered_lead(session, consent_to=[buyer])
    caller = authenticate(session, buyer.key)
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": bought}
    ).scalar_one()
    purchase = purchase_lead(session, caller, PurchaseRequest(bought, "exclusive", price))
    purchase_id = purchase.receipt.purchase_id
    refund = request_refund(session, caller, purchase_id, "not_owner", "Locataire.", [])
    session.commit()
    ids = {
        "path.lead_id": str(bought),
        "path.purchase_id": str(purchase_id),
        "path.request_id": str(refund.request_id),
        "path.agency_id": str(buyer.agency_id),
        "query.token": make_token(bought),
    }
    return {"admin": issue_key("admin"), "buyer": buyer.key, "ids": ids}


@pytest.mark.parametrize("role", ["admin", "buyer"])
def test_every_answer_is_one_the_openapi_document_declares(
    live_server: str, world: dict[str, Any], role: str
) -> None:
    run = schemathesis(live_server, world[role], role, world["ids"])
    (ARTIFACTS / f"schemathesis-{role}.txt").write_text(run.stdout + run.stderr)
    out = run.stdout
    assert run.returncode == 0, out[-8000:] + run.stderr[-2000:]
    # Every operation of the document was sent requests, none skipped.
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
    assert counts is not None, out[-2000:]
    assert counts.group(1) == counts.group(2) == counts.group(3), out[-2000:]
