"""The `mandat` command line (CONTRACT.md). Each command is a thin shell over a service: the
project-local database and the processes here, data loading in mandat.data, staff's commands in
mandat.staff."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from mandat.data import ban, demo, dvf, geodata
from mandat.shell import fail_in_one_line, require_secret_key
from mandat.staff import admin, billing


@click.group()
def main() -> None:
    """Mandat: seller leads for French real-estate agencies."""


# --- the project-local database ------------------------------------------------------------


@main.group()
def db() -> None:
    """The project-local PostGIS cluster (data under .mandat/)."""


@db.command("start")
@click.option("--pooler", is_flag=True, help="also PgBouncer in front of it (transaction mode)")
@fail_in_one_line
def db_start(pooler: bool) -> None:
    from mandat import cluster

    cluster.start()
    click.echo(f"PostGIS running on 127.0.0.1:{cluster.PORT} (data in {cluster.DATA})")
    if pooler:
        from mandat import pooler as bouncer

        bouncer.start()
        click.echo(f"PgBouncer running on 127.0.0.1:{bouncer.PORT} (transaction pooling)")


@db.command("stop")
@fail_in_one_line
def db_stop() -> None:
    from mandat import cluster, pooler

    pooler.stop()
    cluster.stop()


@db.command("backup")
@click.option("--full", is_flag=True, help="a full backup (default: incremental; full at first)")
@fail_in_one_line
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
@fail_in_one_line
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
@fail_in_one_line
def db_url(owner: bool) -> None:
    """The URL serving and the scheduler use (the `mandat_app` role), or the owner's."""
    from engine.config import database_url, libpq_url, owner_database_url

    click.echo(libpq_url(owner_database_url() if owner else database_url()))


@main.command()
@fail_in_one_line
def migrate() -> None:
    """Upgrade the database schema to the latest revision, as the schema's owner
    (MANDAT_OWNER_DATABASE_URL)."""
    from engine.migrate import upgrade

    upgrade()


# --- processes -----------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API, its docs and the estimation form. Refuses to start without
    MANDAT_SECRET_KEY (at least 32 random bytes, base64) unless MANDAT_ENV=development."""
    from mandat.server import serve as serve_api

    require_secret_key()

    serve_api(host, port, workers)


@main.command()
def scheduler() -> None:
    """The background jobs: offer transitions and notification delivery. One at a time: a
    second scheduler waits for the first to stop. Refuses to start without MANDAT_SECRET_KEY
    unless MANDAT_ENV=development."""
    import logging

    from mandat.scheduler import run_scheduler

    require_secret_key()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a webhook URL may embed its secret
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
        run_scheduler(on_locked=lambda: click.echo("scheduler running", err=True))


for group in (geodata, demo, dvf, ban, admin, billing):
    main.add_command(group)


if __name__ == "__main__":
    main()
