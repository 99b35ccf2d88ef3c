"""The demo's person: the owner of the demo agency that homeowners named most, so that a newcomer
signs in to Espace Pro and finds leads waiting. Only for the demo: the address is at
`demo.mandat.example`, the password random, written once to the state folder."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.config import STATE_DIR
from engine.people import passwords

DEMO_EMAIL = "responsable@demo.mandat.example"
SIGN_IN_FILE = STATE_DIR / "demo-sign-in.txt"


@dataclass(frozen=True)
class DemoSignIn:
    email: str
    password: str
    agency: str


def seed_demo_person(session: Session, where: Path = SIGN_IN_FILE) -> DemoSignIn | None:
    """The demo owner (made once); None when there is no demo agency with leads yet."""
    known = session.execute(
        text("""
            SELECT a.name FROM agency_user u JOIN agency a ON a.id = u.agency_id
            WHERE u.email_key = :e
        """),
        {"e": DEMO_EMAIL},
    ).scalar_one_or_none()
    if known is not None:
        return DemoSignIn(DEMO_EMAIL, _read_password(where), known) if where.exists() else None
    agency = session.execute(
        text("""
            SELECT a.id, a.name FROM agency a JOIN lead_consent lc ON lc.agency_id = a.id
            WHERE a.is_demo GROUP BY a.id ORDER BY count(*) DESC, a.id LIMIT 1
        """)
    ).one_or_none()
    if agency is None:
        return None
    password = "-".join(secrets.token_hex(3) for _ in range(4))
    session.execute(
        text("""
            INSERT INTO agency_user (id, agency_id, email, name, role, password_hash)
            VALUES (:id, :agency, :email, 'Claire Démo', 'owner', :hash)
        """),
        {
            "id": uuid.uuid4(),
            "agency": agency.id,
            "email": DEMO_EMAIL,
            "hash": passwords.hash_password(password),
        },
    )
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(f"{DEMO_EMAIL}\n{password}\n")
    where.chmod(0o600)
    return DemoSignIn(DEMO_EMAIL, password, agency.name)


def _read_password(where: Path) -> str:
    lines = where.read_text().splitlines()
    return lines[1] if len(lines) > 1 else ""
