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


def sqlalchemy_url(raw: str) -> str:
    """Accepts a standard `postgresql://` URL and names the psycopg 3 driver for SQLAlchemy."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def secret_key() -> bytes:
    """MANDAT_SECRET_KEY, or a per-checkout key kept under .mandat/ for local runs."""
    value = os.environ.get("MANDAT_SECRET_KEY")
    if value:
        return value.encode()
    path = STATE_DIR / "secret-key"
    if not path.exists():
        import secrets

        STATE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()
