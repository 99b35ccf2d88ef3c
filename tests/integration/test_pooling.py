"""Behind PgBouncer in transaction mode, a server connection passes from client to client: the
settings Mandat relies on must be the database's own, not a `SET` some earlier client made."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy.engine import make_url


def test_through_pgbouncer_every_session_starts_with_the_databases_settings(
    database_url: str,
) -> None:
    from mandat import cluster, pooler

    url = make_url(database_url.replace("+psycopg", ""))
    if os.environ.get("MANDAT_TEST_POOLER") or url.port != cluster.PORT:
        pytest.skip("the local PgBouncer fronts the local cluster only")
    pooler.start()
    dsn = url.set(port=pooler.PORT).render_as_string(hide_password=False)
    for _ in range(3):
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            assert conn.execute("SHOW jit").fetchone() == ("off",)
            assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_generic_plan",)
            served_by = conn.execute("SELECT current_setting('port')").fetchone()
    assert served_by == (str(cluster.PORT),)
