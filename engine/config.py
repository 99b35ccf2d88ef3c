"""Process configuration from the environment (CONTRACT.md "Environment").

Business rules are not here: they live in the `setting` table (engine.settings).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("MANDAT_STATE_DIR", PROJECT_ROOT / ".mandat"))


def database_url() -> str:
    """The SQLAlchemy URL of the application's role (`mandat_app`: rows only, migration 0032),
    what serving and the scheduler use: DATABASE_URL when set, else the project-local
    cluster's."""
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        from engine import local_cluster

        raw = local_cluster.url(user=local_cluster.APP_USER)
    return sqlalchemy_url(raw)


def owner_database_url() -> str:
    """The URL of the role that owns the schema, straight to the primary: for what changes the
    schema or loads data in bulk (`mandat migrate`, the imports, the demo).
    MANDAT_OWNER_DATABASE_URL when set; else the project-local cluster's superuser when
    DATABASE_URL is unset; else the same as `direct_database_url()` (one role for everything,
    as before migration 0032)."""
    raw = os.environ.get("MANDAT_OWNER_DATABASE_URL")
    if raw:
        return sqlalchemy_url(raw)
    if not os.environ.get("DATABASE_URL"):
        from engine import local_cluster

        return sqlalchemy_url(local_cluster.url())
    return direct_database_url()


def libpq_url(url: str) -> str:
    """The same URL for psycopg's own connections (libpq does not know SQLAlchemy's dialect)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def direct_database_url() -> str:
    """The URL of the primary itself, never through a transaction-pooling proxy: for what holds
    a session across transactions (the scheduler's lock, the live inbox's LISTEN).
    MANDAT_DIRECT_DATABASE_URL when set, else the same as `database_url()`."""
    raw = os.environ.get("MANDAT_DIRECT_DATABASE_URL")
    return sqlalchemy_url(raw) if raw else database_url()


def sqlalchemy_url(raw: str) -> str:
    """Accepts a standard `postgresql://` URL and names the psycopg 3 driver for SQLAlchemy.
    libpq's multi-host form (`postgresql://u@a:5432,b:5432/db?target_session_attrs=read-write`,
    what `pg_autoctl show uri` prints) becomes SQLAlchemy's (`…@/db?host=a:5432&host=b:5432…`):
    libpq then tries the hosts in turn and keeps the one that accepts writes."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + _multi_host_as_query(raw[len(prefix) :])
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def _multi_host_as_query(rest: str) -> str:
    authority, _, path = rest.partition("/")
    credentials, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return rest
    database, _, query = path.partition("?")
    pairs = "&".join(f"host={host}" for host in hosts.split(","))
    return f"{credentials}{at}/{database}?{pairs}" + (f"&{query}" if query else "")


def public_url() -> str:
    """Where homeowners and agencies reach Mandat (links in e-mails)."""
    return os.environ.get("MANDAT_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")


def access_log_dir() -> Path | None:
    """Where each server process also writes its access lines (one file per process and day),
    purged by the retention job after `retention_access_log_days`; unset: stderr only."""
    configured = os.environ.get("MANDAT_ACCESS_LOG_DIR")
    return Path(configured) if configured else None
