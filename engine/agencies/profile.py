"""Agencies: creation by staff, and the profile and zone an agency manages itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.agencies.models import Agency, AgencyCommune
from engine.agencies.profile_checks import (
    account_change_errors,
    budget_errors,
    identity_change_errors,
    identity_errors,
)
from engine.agencies.zone import (
    Location,
    change_zone,
    checked_radius_m,
    locate_place,
    zone_communes,
)
from engine.contact.validation import normalise_email, phone_e164
from engine.errors import Conflict, NotFound, RuleViolation
from engine.settings import read_settings


@dataclass
class NewAgency:
    name: str
    siret: str
    email: str
    office: Location
    phone: str | None = None
    radius_km: float | None = None
    accepts_extended_leads: bool = True
    communes: list[str] = field(default_factory=list)
    monthly_budget_cents: int | None = None


@dataclass(frozen=True)
class AgencyView:
    """What an agency (or staff) sees of an agency."""

    id: uuid.UUID
    name: str
    siret: str
    email: str
    phone: str | None
    office: dict[str, Any]
    zone: dict[str, Any]
    accepts_extended_leads: bool
    status: str
    paused: bool
    monthly_budget_cents: int | None
    webhook_url: str | None
    is_demo: bool
    registered_address: dict[str, str] | None  # street, postcode, city; None: not given yet
    einvoicing_address: str  # the directory address (scheme 0225); the SIREN by default


def create_agency(session: Session, new: NewAgency) -> AgencyView:
    errors = identity_errors(new.name, new.siret, new.email, new.phone)
    office = locate_place(session, new.office, "office", errors)
    radius_m = checked_radius_m(
        new.radius_km if new.radius_km is not None else read_settings(session)["default_radius_km"],
        errors,
    )
    communes = zone_communes(session, new.communes, errors)
    errors += budget_errors(new.monthly_budget_cents)
    if errors or office is None:
        raise RuleViolation(errors)
    agency = Agency(
        name=new.name.strip(),
        siret=new.siret,
        email=normalise_email(new.email),
        phone=phone_e164(new.phone) if new.phone else None,
        office=office.ewkt,
        office_commune_code=office.commune_code,
        zone_center=office.ewkt,
        radius_m=radius_m,
        accepts_extended_leads=new.accepts_extended_leads,
        monthly_budget_cents=new.monthly_budget_cents,
        communes=[AgencyCommune(commune_code=code) for code in communes],
    )
    session.add(agency)
    try:
        session.flush()
    except IntegrityError as exc:
        if "uq_agency_siret" in str(exc.orig):
            raise Conflict("An agency with this SIRET already exists.", "siret_taken") from exc
        raise
    return view(session, agency.id)


def read_agency_name(session: Session, agency_id: uuid.UUID) -> str | None:
    return session.execute(
        text("SELECT name FROM agency WHERE id = :id"), {"id": agency_id}
    ).scalar_one_or_none()


def update_agency(session: Session, agency_id: uuid.UUID, changes: dict[str, Any]) -> AgencyView:
    """Applies the fields present in `changes` (a PATCH); absent fields stay as they are."""
    agency = session.get(Agency, agency_id, with_for_update=True)
    if agency is None:
        raise NotFound("No such agency.", "agency_not_found")
    errors = identity_change_errors(agency, changes)
    errors += change_zone(session, agency, changes)
    errors += account_change_errors(agency, changes)
    if errors:
        raise RuleViolation(errors)
    _change_profile(agency, changes)
    agency.updated_at = func.now()
    session.flush()
    return view(session, agency.id)


def _change_profile(agency: Agency, changes: dict[str, Any]) -> None:
    """Writes the profile fields present in `changes`, once all of them are known valid."""
    if "registered_address" in changes:
        address = changes["registered_address"]
        agency.registered_street = address["street"].strip()
        agency.registered_postcode = address["postcode"]
        agency.registered_city = address["city"].strip()
    if "einvoicing_address" in changes:
        agency.einvoicing_address = changes["einvoicing_address"]
    for name in ("name", "accepts_extended_leads", "paused", "monthly_budget_cents", "webhook_url"):
        if name in changes:
            setattr(agency, name, changes[name].strip() if name == "name" else changes[name])
    if "email" in changes:
        agency.email = normalise_email(changes["email"]) or agency.email
    if "phone" in changes:
        agency.phone = phone_e164(changes["phone"]) if changes["phone"] else None


_VIEW = text("""
    SELECT ST_Y(office::geometry) AS office_lat, ST_X(office::geometry) AS office_lon,
           ST_Y(zone_center::geometry) AS center_lat, ST_X(zone_center::geometry) AS center_lon
    FROM agency WHERE id = :id
""")


def view(session: Session, agency_id: uuid.UUID) -> AgencyView:
    agency = session.get(Agency, agency_id, populate_existing=True)
    if agency is None:
        raise NotFound("No such agency.", "agency_not_found")
    points = session.execute(_VIEW, {"id": agency_id}).mappings().one()
    return AgencyView(
        id=agency.id,
        name=agency.name,
        siret=agency.siret,
        email=agency.email,
        phone=agency.phone,
        office={
            "lat": points["office_lat"],
            "lon": points["office_lon"],
            "commune_code": agency.office_commune_code,
        },
        zone={
            "center": {"lat": points["center_lat"], "lon": points["center_lon"]},
            "radius_km": agency.radius_m / 1000,
            "communes": [c.commune_code for c in agency.communes],
        },
        accepts_extended_leads=agency.accepts_extended_leads,
        status=agency.status,
        paused=agency.paused,
        monthly_budget_cents=agency.monthly_budget_cents,
        webhook_url=agency.webhook_url,
        is_demo=agency.is_demo,
        registered_address={
            "street": agency.registered_street,
            "postcode": agency.registered_postcode,
            "city": agency.registered_city,
        }
        if agency.registered_street and agency.registered_postcode and agency.registered_city
        else None,
        einvoicing_address=agency.einvoicing_address or agency.siret[:9],
    )
