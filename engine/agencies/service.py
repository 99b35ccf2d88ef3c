"""Agencies: creation by staff, and the profile and zone an agency manages itself."""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.agencies.models import Agency, AgencyCommune
from engine.contact.validation import normalise_email, phone_e164, siret_is_valid
from engine.errors import Conflict, FieldError, NotFound, RuleViolation
from engine.geo.locate import Place, locate, locate_point
from engine.geo.names import normalise
from engine.notify.webhooks import is_public_address
from engine.settings import read_settings

# Mirrors agency.ck_agency_radius_range: checked here for a clear error, enforced by the database.
RADIUS_MIN_KM = 5
RADIUS_MAX_KM = 50
MAX_COMMUNES = 500


@dataclass
class Location:
    """A point given as coordinates, or as postal code + city (placed at the town hall)."""

    lat: float | None = None
    lon: float | None = None
    postal_code: str | None = None
    city: str | None = None


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
    errors = _identity_errors(new.name, new.siret, new.email, new.phone)
    office = _place(session, new.office, "office", errors)
    radius_m = _radius_m(
        new.radius_km if new.radius_km is not None else read_settings(session)["default_radius_km"],
        errors,
    )
    communes = _communes(session, new.communes, errors)
    errors += _budget_errors(new.monthly_budget_cents)
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
    errors = _identity_change_errors(agency, changes)
    errors += _change_zone(session, agency, changes)
    errors += _account_change_errors(agency, changes)
    if errors:
        raise RuleViolation(errors)
    _change_profile(agency, changes)
    agency.updated_at = func.now()
    session.flush()
    return view(session, agency.id)


def _identity_change_errors(agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    if "name" not in changes and "email" not in changes and "phone" not in changes:
        return []
    return _identity_errors(
        changes.get("name", agency.name),
        agency.siret,
        changes.get("email", agency.email),
        changes.get("phone", agency.phone),
    )


def _change_zone(session: Session, agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    """Moves the zone's radius, centre and communes as asked; what cannot be, as errors."""
    errors: list[FieldError] = []
    if "radius_km" in changes:
        agency.radius_m = _radius_m(changes["radius_km"], errors)
    if "center" in changes:
        center = changes["center"]
        if center is None:
            agency.zone_center = agency.office
        else:
            place = _place(session, center, "center", errors)
            if place is not None:
                agency.zone_center = place.ewkt  # type: ignore[assignment]  # EWKT is bound as is
    if "communes" in changes:
        codes = _communes(session, changes["communes"] or [], errors)
        agency.communes = [AgencyCommune(agency_id=agency.id, commune_code=c) for c in codes]
    return errors


def _account_change_errors(agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    """The webhook, budget and e-invoicing address changes that cannot be."""
    errors: list[FieldError] = []
    webhook_url = changes.get("webhook_url")
    if webhook_url is not None and not _webhook_url_ok(webhook_url):
        errors.append(
            FieldError(
                "webhook_url", "invalid_webhook_url", "A webhook URL is an https:// address."
            )
        )
    errors += _budget_errors(changes.get("monthly_budget_cents"))
    errors += _einvoicing_address_errors(agency.siret[:9], changes.get("einvoicing_address"))
    return errors


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


def _identity_errors(name: str, siret: str, email: str, phone: str | None) -> list[FieldError]:
    errors = []
    if not name or not name.strip() or len(name.strip()) > 200:
        errors.append(FieldError("name", "invalid_name", "A name has 1 to 200 characters."))
    elif not name_is_plain(name):
        errors.append(
            FieldError(
                "name",
                "name_not_plain",
                "A name holds no web address, e-mail address, phone number or control character.",
            )
        )
    if not siret_is_valid(siret):
        errors.append(
            FieldError("siret", "invalid_siret", "A SIRET has 14 digits and a valid check digit.")
        )
    if normalise_email(email or "") is None:
        errors.append(FieldError("email", "invalid_email", "This e-mail address is not valid."))
    if phone and phone_e164(phone) is None:
        errors.append(FieldError("phone", "invalid_phone", "This is not a French phone number."))
    return errors


# The name is shown to homeowners (the form, the confirmation e-mail): an owner must not turn it
# into a message sent from Mandat ("confirmez sur mandat-verif.fr", "rappelez le 06…": F16).
_URL_LIKE = re.compile(
    r"(?i)(://|\bwww\.|@|\b[a-z0-9-]{2,}\.(fr|com|net|org|eu|io|info|biz|immo|co)\b)"
)
_DIGITS_RUN = re.compile(r"(?:\d[\s.\-/]?){8,}")


def name_is_plain(name: str) -> bool:
    """No web or e-mail address, no run of eight digits or more (a phone number), no control
    or invisible formatting character."""
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return False
    return _URL_LIKE.search(name) is None and _DIGITS_RUN.search(name) is None


def _einvoicing_address_errors(siren: str, address: str | None) -> list[FieldError]:
    """A directory address (annuaire, scheme 0225) is the agency's SIREN, or SIREN_suffix."""
    if address is None or re.fullmatch(rf"{siren}(_[A-Za-z0-9.+-]{{1,100}})?", address):
        return []
    message = f"An e-invoicing address is your SIREN ({siren}), or {siren}_ and a suffix."
    return [FieldError("einvoicing_address", "invalid_einvoicing_address", message)]


def _budget_errors(cents: int | None) -> list[FieldError]:
    if cents is not None and cents < 0:
        return [
            FieldError("monthly_budget_cents", "negative_budget", "A budget cannot be negative.")
        ]
    return []


def _place(
    session: Session, where: Location | dict[str, Any], path: str, errors: list[FieldError]
) -> Place | None:
    loc = where if isinstance(where, Location) else Location(**where)
    try:
        if loc.postal_code is not None or loc.city is not None:
            return locate(session, loc.postal_code or "", loc.city or "", loc.lat, loc.lon, path)
        if loc.lat is not None and loc.lon is not None:
            return locate_point(session, loc.lat, loc.lon, path)
        errors.append(
            FieldError(path, "location_required", "Give lat and lon, or postal_code and city.")
        )
    except RuleViolation as violation:
        errors.extend(violation.errors)
    return None


def _radius_m(radius_km: float, errors: list[FieldError]) -> int:
    if not RADIUS_MIN_KM <= radius_km <= RADIUS_MAX_KM:
        errors.append(
            FieldError(
                "radius_km",
                "radius_out_of_range",
                f"The radius is between {RADIUS_MIN_KM} and {RADIUS_MAX_KM} km.",
            )
        )
        return RADIUS_MIN_KM * 1000
    return round(radius_km * 1000)


_NAME_WITH_DEPARTEMENT = re.compile(r"^(?P<name>.+?)\s*\((?P<dep>\d[0-9AB]|\d{3})\)$")
_ZONE_CODES = text("SELECT code FROM commune WHERE code = ANY(:entries)")
_ZONE_POSTAL_CODES = text("""
    SELECT postal_code, commune_code FROM postal_code WHERE postal_code = ANY(:entries)
    ORDER BY postal_code, commune_code
""")
_ZONE_NAMES = text("""
    SELECT code, name, departement_code FROM commune WHERE search_name = :name
    ORDER BY departement_code, code
""")


def _communes(session: Session, entries: list[str], errors: list[FieldError]) -> list[str]:
    """The INSEE codes of the communes a zone lists. Each entry is an INSEE code (`35238`), a
    postal code (`35000`: every commune it serves) or a commune's name (`Rennes`; with its
    département when the name is shared: `Saint-Denis (93)`). Five digits read as an INSEE code
    when one exists, as a postal code otherwise."""
    typed = [e.strip() for e in entries]
    unique = list(dict.fromkeys(typed))
    if len(unique) > MAX_COMMUNES:
        errors.append(
            FieldError("communes", "too_many_communes", f"At most {MAX_COMMUNES} communes.")
        )
        return []
    codes = set(session.scalars(_ZONE_CODES, {"entries": unique}))
    by_postal_code: dict[str, list[str]] = {}
    for postal_code, commune in session.execute(_ZONE_POSTAL_CODES, {"entries": unique}):
        by_postal_code.setdefault(postal_code, []).append(commune)
    found: list[str] = []
    for entry in unique:
        path = f"communes[{typed.index(entry)}]"
        if entry in codes:
            found.append(entry)
        elif entry in by_postal_code:
            found.extend(by_postal_code[entry])
        else:
            found.extend(_commune_named(session, entry, path, errors))
    return list(dict.fromkeys(found))[:MAX_COMMUNES]


def _commune_named(session: Session, entry: str, path: str, errors: list[FieldError]) -> list[str]:
    qualified = _NAME_WITH_DEPARTEMENT.match(entry)
    name, departement = (qualified["name"], qualified["dep"]) if qualified else (entry, None)
    rows = session.execute(_ZONE_NAMES, {"name": normalise(name)}).all()
    if departement:
        rows = [r for r in rows if r.departement_code == departement]
    if len(rows) == 1:
        return [rows[0].code]
    if not rows:
        errors.append(
            FieldError(
                path,
                "unknown_commune",
                f"{entry} is neither an INSEE code, a postal code nor a commune's name.",
            )
        )
    else:
        choices = ", ".join(f"{r.name} ({r.departement_code})" for r in rows[:10])
        errors.append(
            FieldError(path, "ambiguous_commune", f"Several communes have this name: {choices}.")
        )
    return []


def _webhook_url_ok(url: str) -> bool:
    """An https URL on a public host. Our server will POST to it: never to an internal address
    (loopback, private, link-local such as cloud metadata), unless a developer allows this
    machine with MANDAT_ALLOW_LOCAL_WEBHOOKS=1. Delivery re-checks the resolved address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if not host or len(url) > 2_000:
        return False
    local = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    try:
        address = ipaddress.ip_address(host)
        local = local or not is_public_address(address)
    except ValueError:
        pass  # a host name: checked again at delivery, once resolved
    if local:
        return os.environ.get("MANDAT_ALLOW_LOCAL_WEBHOOKS") == "1" and parts.scheme in (
            "http",
            "https",
        )
    return parts.scheme == "https"
