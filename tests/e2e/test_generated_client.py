"""A client generated from the live OpenAPI document (openapi-python-client) does a buyer's
whole round with typed models only: an admin registers an agency near a homeowner and gives it
a key, the homeowner sends the estimation form, the agency reads its catalogue, buys the lead and
reads the purchase. No dict is read: every answer is parsed into a generated model."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

PACKAGE = "mandat_generated_client"


def generate(base: str, where: Path) -> ModuleType:
    """The client package, generated from the document the server serves."""
    document = where / "openapi.json"
    document.write_text(httpx.get(f"{base}/schema/openapi.json", timeout=30).text)
    config = where / "client.json"
    # The generator reads PDFs as bytes only under the binary media type.
    config.write_text(
        json.dumps({"content_type_overrides": {"application/pdf": "application/octet-stream"}})
    )
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--output-path",
         str(where / PACKAGE), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Unable to" not in run.stdout, run.stdout
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


def call(module: str, **kwargs: Any) -> Any:
    """One operation by its operationId's module; the answer must be the model it promises."""
    endpoint = importlib.import_module(f"{PACKAGE}.api.{module}")
    answer = endpoint.sync_detailed(**kwargs)
    assert answer.status_code < 400, answer.content
    return answer.parsed


def test_a_generated_client_registers_an_agency_and_buys_a_lead_with_typed_models_only(
    live_server: str, clean_db: str, tmp_path: Path
) -> None:
    from tests.conftest import issue_key

    generated = generate(live_server, tmp_path)
    m = importlib.import_module(f"{PACKAGE}.models")
    admin = generated.AuthenticatedClient(base_url=live_server, token=issue_key("admin"))
    public = generated.Client(base_url=live_server)

    # The form's time trap counts seconds between its two steps: none for this script.
    settings = m.ChangeSettingsBody.from_dict({"bot_min_seconds": 0})
    assert isinstance(
        call("administration.change_settings", client=admin, body=settings), m.SettingsOut
    )

    agency = call(
        "agencies.create_agency",
        client=admin,
        body=m.AgencyIn(
            name="Agence du Thabor", siret="73282932000074", email="contact@thabor.fr",
            office=m.LocationIn(postal_code="35000", city="Rennes"),
        ),
    )  # fmt: skip
    assert isinstance(agency, m.AgencyOut)
    key = call(
        "agencies.issue_api_key",
        agency_id=agency.id,
        client=admin,
        body=m.ApiKeyIn(role=m.ApiKeyInRole.BUYER),
    )
    assert isinstance(key, m.ApiKeyOut)
    buyer = generated.AuthenticatedClient(base_url=live_server, token=key.key)

    estimation = call(
        "estimation_form.create_estimation",
        client=public,
        body=m.EstimationIn(
            property_=m.PropertyIn(type_=m.PropertyInType.APPARTEMENT, surface_m2=70, rooms=3),
            address=m.AddressIn(postal_code="35000", city="Rennes"),
        ),
    )
    assert isinstance(estimation, m.EstimationOut)
    assert agency.id in [a.id for a in estimation.agencies]
    wording = call("estimation_form.read_consent_text", client=public)
    receipt = call(
        "estimation_form.create_lead",
        estimation_id=estimation.id,
        client=public,
        body=m.LeadIn(
            contact=m.ContactIn(
                first_name="Jeanne", last_name="Vendeuse", email="jeanne.vendeuse@exemple.fr",
                phone="+33 6 12 34 56 78",
            ),
            project=m.ProjectIn(timeline=m.ProjectInTimeline.ASAP, is_owner=True),
            consent=m.ConsentIn(agency_ids=[agency.id], text_version=wording.version),
            website="",
        ),
    )  # fmt: skip
    assert isinstance(receipt, m.LeadReceiptOut)

    catalogue = call("leads.list_offers", client=buyer)
    assert isinstance(catalogue, m.OfferPage)
    (offer,) = catalogue.items
    assert isinstance(offer, m.OfferOut)
    bought = call(
        "leads.purchase_lead",
        lead_id=offer.id,
        client=buyer,
        body=m.PurchaseIn(mode=m.PurchaseInMode(offer.mode.value), price_cents=offer.price_cents),
    )
    assert isinstance(bought, m.PurchaseReceiptOut)
    assert bought.contact.last_name == "Vendeuse"

    purchase = call("leads.read_purchase", purchase_id=bought.purchase_id, client=buyer)
    assert isinstance(purchase, m.PurchaseOut)
    assert (purchase.lead_id, purchase.price_cents) == (offer.id, offer.price_cents)
    assert purchase.contact.phone == bought.contact.phone


@pytest.fixture(autouse=True)
def _forget_the_generated_package() -> Any:
    yield
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
