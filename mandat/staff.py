"""`mandat admin` and `mandat billing`: what platform staff run (keys, people, the monthly
billing run and its reconciliation)."""

from __future__ import annotations

import sys
import uuid

import click

from mandat.shell import fail_in_one_line


@click.group()
def admin() -> None:
    """Platform staff."""


@admin.command("create-key")
@click.option("--role", type=click.Choice(["admin", "finance"]), required=True)
@click.option("--label", default="", help="who or what the key is for")
@fail_in_one_line
def admin_create_key(role: str, label: str) -> None:
    """Print a new staff API key. It is shown once and stored hashed."""
    from engine.accounts.keys import create_key
    from engine.audit import record
    from engine.db import unit_of_work

    with unit_of_work() as session:
        issued = create_key(session, role=role, agency_id=None, label=label)
        record(session, None, "api_key.issued", "api_key", issued.id, role=role, via="cli")
    click.echo(issued.key)


@admin.command("add-person")
@click.option("--agency", "agency_id", type=click.UUID, required=True, help="the agency's id")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["owner", "buyer", "viewer"]), required=True)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@fail_in_one_line
def admin_add_person(agency_id: uuid.UUID, email: str, name: str, role: str, lang: str) -> None:
    """Add a person to an agency for Espace Pro (/pro/login). The password is asked, never
    taken from the command line (shell history)."""
    from engine.people.service import add_person

    password = click.prompt("Password (12 characters at least)", hide_input=True,
                            confirmation_prompt=True)  # fmt: skip
    person = add_person(agency_id, email, name, role, password, lang)
    click.echo(f"{person} {email} can sign in at /pro/login")


@admin.command("add-staff")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["finance", "admin"]), required=True)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@fail_in_one_line
def admin_add_staff(email: str, name: str, role: str, lang: str) -> None:
    """Add a member of Mandat's staff (the finance refund queue under /staff/). They sign in at
    /pro/login like agency people; the password is asked, never taken from the command line."""
    from engine.people.service import add_person

    password = click.prompt("Password (12 characters at least)", hide_input=True,
                            confirmation_prompt=True)  # fmt: skip
    person = add_person(None, email, name, role, password, lang)
    click.echo(f"{person} {email} can sign in at /pro/login (staff pages: /staff/)")


@click.group()
def billing() -> None:
    """Monthly invoices, credit notes and their payments."""


@billing.command("run")
@click.option("--period", required=True, help="the month to bill, YYYY-MM (ended)")
@fail_in_one_line
def billing_run(period: str) -> None:
    """Bill every agency for a month, then collect through Stripe. Run again to resume."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from engine.billing.run import parse_period, run_billing
    from engine.db import unit_of_work

    month = parse_period(period)
    with unit_of_work() as session:
        pending = session.execute(
            text("""
                SELECT count(DISTINCT agency_id) FROM ledger_line l
                WHERE NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
            """)
        ).scalar_one()
    with click.progressbar(length=pending, label="agencies", file=sys.stderr) as bar:
        report = run_billing(month, datetime.now(UTC), on_agency=lambda: bar.update(1))
    click.echo(
        f"{report.period}: {report.invoices} invoices, {report.credit_notes} credit notes, "
        f"{report.paid} paid, {report.failed} failed, {report.unreachable} not reached, "
        f"{report.refunds} refunds"
    )
    for note in report.notes:
        click.echo(note)


@billing.command("reconcile")
@click.option("--days", default=35, show_default=True, help="how far back to look")
@fail_in_one_line
def billing_reconcile(days: int) -> None:
    """Compare ledger, documents and Stripe; print every drift (exit 1 when there is one)."""
    from datetime import UTC, datetime

    from engine.billing.reconcile import reconcile
    from engine.db import unit_of_work

    with unit_of_work() as session:
        drifts = reconcile(session, datetime.now(UTC), days)
    for drift in drifts:
        click.echo(f"{drift.kind}\t{drift.subject}\texpected {drift.expected}\tfound {drift.found}")
    click.echo(f"{len(drifts)} drift(s) over {days} days")
    if drifts:
        sys.exit(1)
