"""Builders for Espace Pro tests: a person of an agency, and signing in over HTTP."""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

from engine.people.service import add_person

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def person(agency_id: uuid.UUID, role: str = "buyer", name: str = "Camille Leroy") -> str:
    """A person of the agency with PASSWORD; returns their e-mail address."""
    email = f"camille.{next(_numbers)}@agence.example"
    add_person(agency_id, email, name, role, PASSWORD)
    return email


def staff(role: str = "finance", name: str = "Dominique Martin") -> str:
    """A member of Mandat's staff (no agency) with PASSWORD; returns their e-mail address."""
    email = f"dominique.{next(_numbers)}@mandat.example"
    add_person(None, email, name, role, PASSWORD)
    return email


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """The sign-in page, then its form, as a browser sends them."""
    page = client.get("/pro/login")
    data = {"email": email, "password": password, "csrf": form_token(page.text), **extra}
    return client.post("/pro/login", data=data, follow_redirects=False)
