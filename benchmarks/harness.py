"""What the HTTP benchmarks share: their own database on the server in use, a `mandat serve`
subprocess started and stopped cleanly, free ports and process trees, a small market (agencies
in four cities, qualified leads made by the intake code), the sale invariants, percentiles and
the round trips of a block of code (the tests count them the same way)."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from psycopg import pq
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.config import sqlalchemy_url
from engine.db import get_engine, unit_of_work
from engine.demo.seed import demo_siret
from engine.geo.load import load_communes
from engine.geo.locate import locate
from engine.intake.consent import consent_text
from engine.intake.estimations import EstimationRequest, request_estimate
from engine.intake.submissions import Client, LeadSubmission, submit_lead
from engine.migrate import upgrade
from mandat import cluster

ROOT = Path(__file__).resolve().parent.parent
CITIES = (("35000", "Rennes"), ("44000", "Nantes"), ("33000", "Bordeaux"), ("59000", "Lille"))


class RoundTrips(list[int]):
    """[the number of round trips], and `messages`: the client's messages of each one (what to
    read when the number is not the expected one). A statement's preparation is not counted:
    psycopg prepares a statement on a connection the second time that connection runs it, with
    a round trip of its own (Parse, Sync) once; `preparations` counts those apart, so that the
    figure is the steady one whichever pooled connection a test happens to get."""

    messages: list[list[str]]
    preparations: int


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    """The round trips to the database made inside the block (the list's one item, set when it
    ends), from libpq's own trace of every connection the pool hands out meanwhile: a round trip
    is the client's messages (F) followed by the server's answer (B)."""
    engine = get_engine()
    counted = RoundTrips([0])
    counted.messages = []
    counted.preparations = 0
    with tempfile.TemporaryFile("w+") as trace:

        def checkout(dbapi: Any, record: Any, proxy: Any) -> None:
            dbapi.pgconn.trace(trace.fileno())
            dbapi.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def checkin(dbapi: Any, record: Any) -> None:
            if dbapi is not None:
                dbapi.pgconn.untrace()

        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)
        try:
            yield counted
        finally:
            event.remove(engine, "checkout", checkout)
            event.remove(engine, "checkin", checkin)
        trace.seek(0)
        lines = [line.split("\t") for line in trace.read().splitlines() if line[:1] in ("F", "B")]
        for side, previous in zip(lines, [["B"], *lines[:-1]], strict=True):
            if side[0] == "F":
                if previous[0] == "B":
                    counted.messages.append([])
                counted.messages[-1].append(" ".join(side[2:4])[:80])
        counted.preparations = sum(map(_preparing, counted.messages))
        counted[0] = len(counted.messages) - counted.preparations


def _preparing(messages: list[str]) -> bool:
    """A round trip that only prepares statements (Parse …, then Sync)."""
    return messages[-1] == "Sync" and all(m.startswith("Parse") for m in messages[:-1])


def bench_urls(database: str) -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server of DATABASE_URL or the local cluster."""
    base = make_url(sqlalchemy_url(os.environ.get("DATABASE_URL") or cluster.url()))
    admin, bench = base.set(database="postgres"), base.set(database=database)
    return admin.render_as_string(False), bench.render_as_string(False)


def plain(url: str) -> str:
    """The libpq form (`postgresql://`) that DATABASE_URL documents."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def autocommit(url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE, VACUUM, COMMENT)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def new_database(admin: str, url: str, database: str) -> str:
    """`database` dropped if it exists, created, migrated, its communes loaded (what was
    loaded, as the loader says it)."""
    autocommit(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    autocommit(admin, f'CREATE DATABASE "{database}"')
    upgrade(url)
    with unit_of_work(url) as session:
        return str(load_communes(session))


def drop_database(admin: str, database: str) -> None:
    autocommit(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def mark_seeded(admin: str, database: str, marker: str) -> None:
    """What a bench database was seeded with, kept as its comment (for `--keep`)."""
    autocommit(admin, f"COMMENT ON DATABASE \"{database}\" IS '{marker}'")


def seeded_with(admin: str, database: str) -> str | None:
    """The marker `mark_seeded` left on `database`, if it exists."""
    engine = create_engine(admin)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"
            ),
            {"n": database},
        ).first()
    engine.dispose()
    return None if found is None else found[0]


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) clock ticks of every CPU since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the CPUs busy between two `machine_ticks` readings."""
    return 1 - (after[1] - before[1]) / max(after[0] - before[0], 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


@contextmanager
def server(
    database_url: str,
    workers: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    root: Path = ROOT,
    kind: str = "mandat",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The application of the source tree `root` (this one by default) in its own process group,
    terminated (with its workers) on the way out: `mandat serve` as deployed (uvicorn), or with
    `kind="granian"` the same application under granian, for comparison, when it is installed
    (not a dependency of Mandat: `pip install granian` in the virtualenv)."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    own: dict[str, str] = {}
    if kind == "mandat":
        # An earlier tree (benchmarks/baseline_http.py) may have had the command line in engine/.
        module = "mandat.cli" if (root / "mandat" / "cli.py").exists() else "engine.cli"
        command = [sys.executable, "-m", module, "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
    elif kind == "granian":
        granian = Path(sys.executable).with_name("granian")
        if not granian.exists():
            sys.exit("granian is not installed: pip install granian (the virtualenv's)")
        command = [
            str(granian), "--interface", "asgi", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--loop", "uvloop", "--http", "1",
            "--no-ws", "--log-level", "warning", "api.app:create_app",
        ]  # fmt: skip
        own["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mandat-metrics-")
    else:
        sys.exit(f"unknown server {kind!r}: mandat or granian")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            env={
                "MANDAT_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),  # this run's
                **os.environ,
                "DATABASE_URL": database_url,
                **own,
                **(env or {}),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers end with it
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, process, log_path)
            yield base, process
        finally:
            stop(process)
            if "PROMETHEUS_MULTIPROC_DIR" in own:
                shutil.rmtree(own["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def of_server(path: Path, kind: str) -> Path:
    """A result or log file of a run against `kind`: the file itself for `mandat serve`, else
    its name with the server's (`purchase.json` → `purchase-granian.json`)."""
    return path if kind == "mandat" else path.with_name(f"{path.stem}-{kind}{path.suffix}")


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float = 60
) -> None:
    deadline, last = time.monotonic() + seconds, "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            ready = httpx.get(f"{base}/readyz", timeout=1)
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text}"
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-1500:]
    raise RuntimeError(f"the server did not become ready ({last}):\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + wait_s  # the main process is gone; its workers may linger
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


# --- a small market ---------------------------------------------------------------------


def add_agencies(session: Session, count: int) -> None:
    """`count` agencies spread over CITIES: in each city, a row of offices 0.0025° of longitude
    (190 m) apart from the town hall, 20 km zones."""
    for n in range(count):
        postal_code, city = CITIES[n % len(CITIES)]
        hall = locate(session, postal_code, city)
        point = f"SRID=4326;POINT({hall.lon + (n // len(CITIES)) * 0.0025!r} {hall.lat!r})"
        session.execute(
            text("""
                INSERT INTO agency (name, siret, email, office, zone_center, radius_m,
                                    accepts_extended_leads, paused, status)
                VALUES (:name, :siret, :email, CAST(:p AS geography), CAST(:p AS geography),
                        20000, true, false, 'active')
            """),
            {
                "name": f"Agence bench {city} {n // len(CITIES) + 1}",
                "siret": demo_siret(900_000 + n),
                "email": f"agence.bench{n}@exemple.fr",
                "p": point,
            },
        )


def share_half_the_offers(url: str) -> int:
    """Half of the offers (a fixed half) moved past their exclusive window: shared, three buyers
    each. How many."""
    with unit_of_work(url) as session:
        moved: int = session.execute(
            text("""
                UPDATE offer SET created_at = now() - interval '25 hours',
                                 exclusive_until = now() - interval '1 hour'
                WHERE lead_id IN (SELECT lead_id FROM offer ORDER BY md5(lead_id::text)
                                  LIMIT (SELECT count(*) / 2 FROM offer))
            """)
        ).rowcount  # type: ignore[attr-defined]
    return moved


def make_leads(url: str, count: int, rng: np.random.Generator) -> None:
    """Qualified leads in CITIES (round robin), offered to every agency named."""
    with Session(get_engine(url)) as session:
        version, _ = consent_text(session, "fr")
        halls = [locate(session, p, c) for p, c in CITIES]
        for n in range(count):
            postal_code, city = CITIES[n % len(CITIES)]
            hall = halls[n % len(CITIES)]
            kind = ("appartement", "maison")[int(rng.integers(2))]
            answer = request_estimate(
                session,
                EstimationRequest(
                    kind,
                    float(rng.integers(25, 160)),
                    postal_code,
                    city,
                    lat=round(hall.lat + float(rng.uniform(-0.008, 0.008)), 6),
                    lon=round(hall.lon + float(rng.uniform(-0.008, 0.008)), 6),
                    property_facts={"rooms": int(rng.integers(1, 7))},
                ),
                date.today(),
            )
            # Sent a minute after step 1: the form's time trap quarantines faster submits.
            session.execute(
                text("UPDATE estimation SET created_at = created_at - interval '1 minute' "
                     "WHERE id = :id"),
                {"id": answer.id},
            )  # fmt: skip
            submit_lead(
                session,
                answer.id,
                LeadSubmission(
                    first_name="Jeanne",
                    last_name=f"Vendeuse{n}",
                    email=f"jeanne.bench{n}@exemple.fr",
                    phone=f"+336{30_000_000 + n:08d}",
                    timeline=("asap", "lt_3_months", "3_6_months")[int(rng.integers(3))],
                    is_owner=True,
                    consent_agency_ids=[a.agency_id for a in answer.agencies],
                    consent_text_version=version,
                    honeypot="",
                ),
                Client(ip=f"10.{n // 62_500}.{n // 250 % 250}.{n % 250 + 1}"),
            )
            if n % 250 == 249:
                session.commit()
            if n % 1000 == 999:
                print(f"  {n + 1:,} leads", flush=True)
        session.commit()
        statuses = dict(
            session.execute(text("SELECT status, count(*) FROM lead GROUP BY 1")).tuples().all()
        )
    if statuses != {"qualified": count}:
        raise RuntimeError(f"every seeded lead must be qualified, got {statuses}")


INVARIANTS = {
    "leads with two exclusive purchases": """
        SELECT count(*) FROM (SELECT lead_id FROM purchase WHERE mode = 'exclusive'
                              GROUP BY lead_id HAVING count(*) > 1) x""",
    "leads bought both exclusive and shared": """
        SELECT count(*) FROM (SELECT lead_id FROM purchase GROUP BY lead_id
                              HAVING count(DISTINCT mode) > 1) x""",
    "offers with more shared purchases than their cap": """
        SELECT count(*) FROM offer o
        WHERE (SELECT count(*) FROM purchase p
               WHERE p.lead_id = o.lead_id AND p.mode = 'shared') > o.shared_cap""",
    "agencies that bought one lead twice": """
        SELECT count(*) FROM (SELECT 1 FROM purchase GROUP BY lead_id, agency_id
                              HAVING count(*) > 1) x""",
    "offers whose shared_buyers is not their shared purchases": """
        SELECT count(*) FROM offer o
        WHERE o.shared_buyers <> (SELECT count(*) FROM purchase p
                                  WHERE p.lead_id = o.lead_id AND p.mode = 'shared')""",
    "offers whose exclusive_buyer is not their exclusive purchase": """
        SELECT count(*) FROM offer o
        WHERE o.exclusive_buyer IS DISTINCT FROM
              (SELECT p.agency_id FROM purchase p
               WHERE p.lead_id = o.lead_id AND p.mode = 'exclusive' LIMIT 1)""",
    "purchases without exactly one purchase ledger line of their amount": """
        SELECT count(*) FROM purchase p
        WHERE (SELECT count(*) FROM ledger_line l
               WHERE l.purchase_id = p.id AND l.kind = 'purchase'
                 AND l.amount_cents = p.price_cents AND l.agency_id = p.agency_id) <> 1
           OR (SELECT count(*) FROM ledger_line l
               WHERE l.purchase_id = p.id AND l.kind <> 'refund') <> 1""",
    "purchases by an agency without consent": """
        SELECT count(*) FROM purchase p
        WHERE NOT EXISTS (SELECT 1 FROM lead_consent c
                          WHERE c.lead_id = p.lead_id AND c.agency_id = p.agency_id)""",
    "purchases in the wrong mode or at the wrong price": """
        SELECT count(*) FROM purchase p JOIN offer o ON o.lead_id = p.lead_id
        WHERE p.mode <> CASE WHEN p.created_at < o.exclusive_until
                             THEN 'exclusive' ELSE 'shared' END
           OR p.price_cents <> CASE p.mode WHEN 'exclusive' THEN o.exclusive_price_cents
                                           ELSE o.shared_price_cents END""",
}


def percentiles(ms: np.ndarray) -> dict[str, float] | None:
    if not len(ms):
        return None
    return {
        "n": len(ms),
        "median": float(np.median(ms)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
    }


def summary(values: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
        "n": len(values),
    }


# The monthly spend counter (migration 0028) is the sum of the month's purchase lines.
INVARIANTS["agency months whose spend counter is not the sum of their purchase lines"] = """
    SELECT count(*) FROM agency_month_spend s
    FULL JOIN (SELECT agency_id, paris_month(created_at) AS month, sum(amount_cents) AS cents
               FROM ledger_line WHERE kind = 'purchase' GROUP BY 1, 2) l
           USING (agency_id, month)
    WHERE coalesce(s.cents, 0) <> coalesce(l.cents, 0)"""
