"""Serving and the scheduler connect as `mandat_app` (migration 0032): it reads and writes rows,
and a stolen URL or an injected statement can do nothing more — no program run on the database
host, no schema change, no rewriting of the audit log or the ledger."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from engine.accounts.authentication import authenticate
from engine.db import unit_of_work
from engine.sales.buy import PurchaseRequest
from engine.sales.flows import buy_lead
from tests.market import buyers, offered_lead

REFUSED = [
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "COPY audit_log TO '/tmp/audit.csv'",
    "UPDATE audit_log SET action = action",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "UPDATE ledger_line SET amount_cents = 0",
    "DELETE FROM ledger_line",
    "CREATE TABLE stolen (line text)",
    "ALTER TABLE agency DISABLE TRIGGER ALL",
    "DROP TABLE purchase",
    "CREATE ROLE intruder LOGIN SUPERUSER",
    "UPDATE alembic_version SET version_num = '0001'",
]


def test_F18_the_application_connects_as_mandat_app_not_a_superuser(session) -> None:
    who = session.execute(
        text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    ).one()
    assert tuple(who) == ("mandat_app", False)


@pytest.mark.parametrize("statement", REFUSED)
def test_F18_what_the_application_role_may_not_do(clean_db: str, statement: str) -> None:
    with (
        psycopg.connect(clean_db.replace("+psycopg", ""), prepare_threshold=None) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_a_purchase_as_the_application_role_writes_its_rows_and_audit(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    caller = authenticate(session, a.key)
    session.commit()

    answer = buy_lead(caller, PurchaseRequest(lead, "exclusive", price, "roles-1"))

    assert answer.receipt.contact.first_name
    audited = session.execute(
        text(
            "SELECT count(*) FROM audit_log WHERE action = 'contact.revealed' AND subject_id = :l"
        ),
        {"l": str(lead)},
    ).scalar_one()
    assert audited == 1
    session.execute(text("SELECT analyze_documents()"))  # the billing run's statistics


def test_tables_of_later_migrations_are_the_application_roles_too(
    session, owner_database_url: str
) -> None:
    with unit_of_work(owner_database_url) as owner:
        owner.execute(text("CREATE TABLE later_migration (id serial PRIMARY KEY, note text)"))
    try:
        session.execute(text("INSERT INTO later_migration (note) VALUES ('granted')"))
        assert session.execute(text("SELECT note FROM later_migration")).scalar_one() == "granted"
        session.rollback()
    finally:
        with unit_of_work(owner_database_url) as owner:
            owner.execute(text("DROP TABLE later_migration"))
