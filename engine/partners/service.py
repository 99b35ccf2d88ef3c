"""Who may frame the estimation form (issue 12, F3): partners and their allowed origins.

Platform staff register a partner (slug, name, origins) and change its origins; each change is
audited. The form page asks `framing_origins(source)` for its `frame-ancestors`: the partner's
origins, or nothing for an unknown slug (the page is then framed by Mandat's own pages only).
An origin is exact — scheme, host and port, no path, no wildcard — and HTTPS unless it is this
machine's loopback (a partner's test page), since a page served over plain HTTP can be changed
on its way to the homeowner.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.db import unit_of_work
from engine.errors import Conflict, FieldError, NotFound, RuleViolation
from engine.partners.models import Partner

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}"
    r"[a-z0-9])?)*|\[[0-9a-f:.]{2,45}\])(?::(?P<port>[0-9]{1,5}))?/?$"
)
MAX_ORIGINS = 20


@dataclass(frozen=True)
class PartnerFacts:
    slug: str
    name: str
    allowed_origins: list[str]
    created_at: datetime
    updated_at: datetime


def _facts(partner: Partner) -> PartnerFacts:
    return PartnerFacts(
        partner.slug,
        partner.name,
        list(partner.allowed_origins),
        partner.created_at,
        partner.updated_at,
    )


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def clean_origins(origins: list[str], path: str = "allowed_origins") -> list[str]:
    """The origins, lower-cased, without a trailing slash, each once; a 422 at the first wrong."""
    errors: list[FieldError] = []
    if not 1 <= len(origins) <= MAX_ORIGINS:
        errors.append(FieldError(path, "origin_count", f"From 1 to {MAX_ORIGINS} origins."))
    cleaned: list[str] = []
    for index, origin in enumerate(origins):
        match = _ORIGIN.match(origin.strip().lower())
        port = match and match["port"]
        if not match or (port and not 0 < int(port) < 65536):
            errors.append(
                FieldError(
                    f"{path}[{index}]",
                    "invalid_origin",
                    "An origin is scheme://host[:port], nothing after it (no path, no wildcard).",
                )
            )
        elif match["scheme"] == "http" and not _loopback(match["host"]):
            errors.append(
                FieldError(f"{path}[{index}]", "origin_not_https", "A partner's origin is HTTPS.")
            )
        else:
            value = origin.strip().lower().rstrip("/")
            if value not in cleaned:
                cleaned.append(value)
    if errors:
        raise RuleViolation(errors)
    return cleaned


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        raise RuleViolation.at("name", "invalid_name", "A name of 1 to 200 characters.")
    return name


def register_partner(caller: Principal, slug: str, name: str, origins: list[str]) -> PartnerFacts:
    """Admin. A new partner; its slug is taken once (409)."""
    caller.require("admin")
    if not SLUG.match(slug):
        raise RuleViolation.at(
            "slug", "invalid_slug", "Lower-case letters, digits, '.', '_' or '-' (64 at most)."
        )
    partner = Partner(slug=slug, name=_clean_name(name), allowed_origins=clean_origins(origins))
    with unit_of_work() as session:
        if session.get(Partner, slug) is not None:
            raise Conflict(f"A partner named {slug!r} exists.", code="partner_exists")
        session.add(partner)
        record(session, caller, "partner.registered", "partner", slug,
               allowed_origins=partner.allowed_origins)  # fmt: skip
        session.flush()
        session.refresh(partner)
        return _facts(partner)


def change_partner(
    caller: Principal, slug: str, name: str | None, origins: list[str] | None
) -> PartnerFacts:
    """Admin. A new name or a new list of origins (replacing the old one), audited."""
    caller.require("admin")
    with unit_of_work() as session:
        partner = session.get(Partner, slug, with_for_update=True)
        if partner is None:
            raise NotFound(f"No partner named {slug!r}.", code="partner_not_found")
        details: dict[str, object] = {}
        if name is not None:
            partner.name = _clean_name(name)
            details["name_changed"] = True
        if origins is not None:
            details["before"] = list(partner.allowed_origins)
            partner.allowed_origins = clean_origins(origins)
            details["allowed_origins"] = partner.allowed_origins
        partner.updated_at = func.now()
        record(session, caller, "partner.changed", "partner", slug, **details)
        session.flush()
        session.refresh(partner)
        return _facts(partner)


def list_partners(caller: Principal) -> list[PartnerFacts]:
    """Admin and finance. By slug."""
    caller.require("admin", "finance")
    with unit_of_work() as session:
        return [_facts(p) for p in session.scalars(select(Partner).order_by(Partner.slug))]


def framing_origins(session: Session, source: str | None) -> list[str]:
    """The origins that may frame the form for `source`: none when it is not a partner."""
    if not source or not SLUG.match(source):
        return []
    partner = session.get(Partner, source)
    return list(partner.allowed_origins) if partner else []


def origins_for_form(source: str | None) -> list[str]:
    with unit_of_work() as session:
        return framing_origins(session, source)
