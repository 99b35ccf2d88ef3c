"""Where the project-local PostGIS cluster listens and how to log in to it: the database URL
when DATABASE_URL is unset (engine.config). Starting, stopping and backing it up belong to the
command line (mandat.cluster, `mandat db start`).

The superuser password is generated once and kept in .mandat/db-password (mode 600). The
superuser owns the schema (migrations, imports); `mandat serve` and `mandat scheduler` log in as
`mandat_app` (rows only, migration 0032), given the same password on this loopback-only cluster.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from pathlib import Path

from engine.config import STATE_DIR

PORT = int(os.environ.get("MANDAT_DB_PORT", "54329"))
DB_NAME = "mandat"
USER = "postgres"
APP_USER = "mandat_app"

DATA = STATE_DIR / "pgdata"
SOCKETS = STATE_DIR / "run"
PASSWORD_FILE = STATE_DIR / "db-password"


class ClusterError(RuntimeError):
    pass


def write_private(path: Path, content: str) -> None:
    """Creates `path` readable by its owner only, from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)


@cache
def password() -> str:
    if not PASSWORD_FILE.exists():
        if (DATA / "PG_VERSION").exists():
            raise ClusterError(
                f"{PASSWORD_FILE} is missing but the cluster exists: `make clean-db` resets it"
            )
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        write_private(PASSWORD_FILE, secrets.token_urlsafe(24))
    return PASSWORD_FILE.read_text().strip()


def url(dbname: str = DB_NAME, user: str = USER) -> str:
    return f"postgresql://{user}:{password()}@127.0.0.1:{PORT}/{dbname}"
