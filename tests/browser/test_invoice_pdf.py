"""An agency's invoice as Factur-X in a real browser: Chromium opens the PDF link, and poppler's
pdftoppm renders its first page, kept as a screenshot in test-artifacts/ to look at."""

from __future__ import annotations

import subprocess

import pytest
from facturx import get_xml_from_pdf
from sqlalchemy import text

from engine.billing.einvoice import issue_pending
from tests.browser.conftest import ARTIFACTS
from tests.integration.test_facturx import billed

pytestmark = pytest.mark.usefixtures("stripe_fake")


def test_the_invoice_pdf_opens_in_chromium_and_its_first_page_renders(
    browser, live_server, client, session
) -> None:
    owner = billed(client, session, 2)
    issue_pending()
    invoice = session.execute(text("SELECT id, number FROM invoice")).one()
    context = browser.new_context(extra_http_headers=owner.headers)
    page = context.new_page()

    url = f"{live_server}/api/v1/invoices/{invoice.id}/pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / f"invoice-{invoice.number}.pdf"
    response = page.goto(url)  # Chromium's own PDF viewer opens it
    assert response is not None
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    pdf.write_bytes(context.request.get(url).body())  # the bytes the viewer shows
    context.close()

    assert pdf.read_bytes().startswith(b"%PDF")
    _, xml = get_xml_from_pdf(pdf.read_bytes(), check_xsd=False)
    assert invoice.number.encode() in xml
    png = ARTIFACTS / "test_the_invoice_pdf_opens_in_chromium-first-page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(png)],
        check=True,
        timeout=60,
    )
    assert png.with_suffix(".png").stat().st_size > 10_000  # a page with text, not a blank
