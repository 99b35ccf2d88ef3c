"""The purchases export opens correctly in French Excel (issue 13): read back from the bytes as
Excel reads them — a UTF-8 byte-order mark, semicolons, French headers and values, decimal
commas, dates as dd/mm/yyyy —, while the CRM layout of `purchases.csv` stays as programs know it."""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Any

from api.leads.excel import HEADERS
from engine.privacy.links import make_token
from tests.e2e.test_pro_sign_in import browser
from tests.market import buyers, offered_lead
from tests.pro import person, sign_in


def as_excel_reads(raw: bytes) -> list[dict[str, str]]:
    """French Excel: UTF-8 only when the file starts with a BOM, `;` between cells."""
    assert raw.startswith(codecs.BOM_UTF8), "without a BOM Excel reads Windows-1252"
    rows = list(csv.reader(io.StringIO(raw[len(codecs.BOM_UTF8) :].decode("utf-8")), delimiter=";"))
    header, *body = rows
    assert header == HEADERS
    assert all(len(row) == len(header) for row in body)
    return [dict(zip(header, row, strict=True)) for row in body]


def bought(client: Any, session: Any) -> tuple[Any, str, dict[str, Any]]:
    (mine,) = buyers(session, 1, role="owner")
    lead = offered_lead(session, consent_to=[mine])
    price = client.get(f"/api/v1/leads/{lead}", headers=mine.headers).json()["price_cents"]
    purchase = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=mine.headers,
    ).json()
    client.patch(
        f"/api/v1/purchases/{purchase['purchase_id']}",
        json={"pipeline_status": "appointment", "notes": '=HYPERLINK("x") rappeler lundi'},
        headers=mine.headers,
    )
    return mine, str(lead), {**purchase, "price_cents": price}


def test_the_excel_export_is_french_excel_s_csv(client, session) -> None:
    mine, _, purchase = bought(client, session)

    answer = client.get("/api/v1/purchases.csv?format=excel", headers=mine.headers)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="mandat-achats.csv"' in answer.headers["content-disposition"]
    (row,) = as_excel_reads(answer.content)
    euros, cents = divmod(purchase["price_cents"], 100)
    assert row["Prix (€ HT)"] == f"{euros},{cents:02d}"  # a decimal comma
    assert re.fullmatch(r"\d\d/\d\d/20\d\d \d\d:\d\d", row["Acheté le"])
    assert (row["Mode"], row["Étape"], row["Type de bien"]) == (
        "Exclusif",
        "Rendez-vous",
        "Appartement",
    )
    assert (row["Projet de vente"], row["Propriétaire"], row["Commune"]) == (
        "Dès que possible",
        "Oui",
        "Rennes",
    )
    assert re.fullmatch(r"06 \d\d \d\d \d\d \d\d", row["Téléphone"])  # not read as a number
    assert row["Notes"].startswith("'=")  # a formula is not run
    assert row["Ne plus contacter"] == ""


def test_a_withdrawn_consent_says_ne_plus_contacter_in_the_excel_export(client, session) -> None:
    mine, lead, _ = bought(client, session)
    client.post(f"/api/v1/me/consents/{mine.agency_id}/withdraw?token={make_token(lead)}")

    raw = client.get("/api/v1/purchases.csv?format=excel", headers=mine.headers).content

    (row,) = as_excel_reads(raw)
    assert row["Ne plus contacter"] == "Ne plus contacter : consentement retiré"
    assert (row["Téléphone"], row["E-mail"]) == ("", "")


def test_the_crm_layout_stays_as_programs_read_it(client, session) -> None:
    mine, _, purchase = bought(client, session)

    raw = client.get("/api/v1/purchases.csv", headers=mine.headers).content

    assert not raw.startswith(codecs.BOM_UTF8)
    (row,) = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert row["purchase_id"] == purchase["purchase_id"]
    assert row["price_eur"] == f"{purchase['price_cents'] / 100:.2f}"
    assert row["pipeline_status"] == "appointment"
    assert row["phone"].startswith("+336")
    assert client.get("/api/v1/purchases.csv?format=xlsx", headers=mine.headers).status_code == 422


def test_espace_pro_downloads_the_excel_export(clean_db, client, session) -> None:
    mine, _, _ = bought(client, session)
    with browser(clean_db) as web:
        sign_in(web, person(mine.agency_id))
        contacts = web.get("/pro/contacts").text
        download = web.get("/pro/contacts.csv")

    assert 'href="/pro/contacts.csv"' in contacts
    assert "Télécharger tous les contacts pour Excel" in contacts
    assert download.status_code == 200
    assert download.headers["cache-control"] == "no-store"
    (row,) = as_excel_reads(download.content)
    assert row["Étape"] == "Rendez-vous"
