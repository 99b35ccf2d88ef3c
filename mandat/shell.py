"""What every `mandat` command shares: failures in one line, the schema owner's connection for
bulk loads, progress bars, and the secret key processes refuse to start without."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from engine.errors import MandatError


def fail_in_one_line(func: Callable[..., Any]) -> Callable[..., Any]:
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


def as_schema_owner(func: Callable[..., Any]) -> Callable[..., Any]:
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


def require_secret_key() -> None:
    """No process that signs or opens anything starts without a usable key (engine.keyring)."""
    from engine.keyring import MissingSecretKey, check_configured

    try:
        check_configured()
    except MissingSecretKey as error:
        click.echo(f"mandat: {error}", err=True)
        sys.exit(2)


def progress(items: Any, label: str) -> Any:
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)
