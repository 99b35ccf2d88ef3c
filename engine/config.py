"""Process configuration from the environment (CONTRACT.md "Environment").

Business rules are not here: they live in the `setting` table (engine.settings).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("MANDAT_STATE_DIR", PROJECT_ROOT / ".mandat"))


def database_url() -> str:
    """The SQLAlchemy URL: DATABASE_URL when set, else the project-local cluster's."""
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        from engine import cluster

        raw = cluster.url()
    return sqlalchemy_url(raw)


def direct_database_url() -> str:
    """A libpq URL of the database itself, for a connection that must keep its own session
    (LISTEN): DIRECT_DATABASE_URL when set (past a pooler in transaction mode), else
    DATABASE_URL's database."""
    raw = os.environ.get("DIRECT_DATABASE_URL")
    url = sqlalchemy_url(raw) if raw else database_url()
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlalchemy_url(raw: str) -> str:
    """Accepts a standard `postgresql://` URL and names the psycopg 3 driver for SQLAlchemy."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def public_url() -> str:
    """Where homeowners and agencies reach Mandat (links in e-mails)."""
    return os.environ.get("MANDAT_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")


def access_log_dir() -> Path | None:
    """Where each server process also writes its access lines (one file per process and day),
    purged by the retention job after `retention_access_log_days`; unset: stderr only."""
    configured = os.environ.get("MANDAT_ACCESS_LOG_DIR")
    return Path(configured) if configured else None
