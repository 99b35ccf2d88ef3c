"""Identity fields: SIRET, e-mail and French phone numbers (overseas included), offline."""

from __future__ import annotations

import phonenumbers
from disposable_email_domains import allowlist as _DISPOSABLE_ALLOWED
from disposable_email_domains import blocklist as _DISPOSABLE
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberFormat, PhoneNumberType

# National numbers of the overseas départements are read with their own region first: mainland
# metadata would also accept 0596… (Martinique) or 0269… (Mayotte) as +33 numbers, and overseas
# plans never accept a mainland number.
_REGIONS = ("RE", "GP", "MQ", "GF", "YT", "FR")
_ALLOWED_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP,
}
# La Poste's establishments share one SIREN whose SIRETs follow their own check rule.
_LA_POSTE_SIREN = "356000000"


def siret_is_valid(siret: str) -> bool:
    """14 digits with a valid Luhn key; La Poste's may instead have a digit sum divisible by 5."""
    if len(siret) != 14 or not siret.isdigit():
        return False
    if luhn_valid(siret):
        return True
    return siret.startswith(_LA_POSTE_SIREN) and sum(int(d) for d in siret) % 5 == 0


def luhn_valid(digits: str) -> bool:
    """The Luhn check that SIREN and SIRET numbers carry in their last digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def normalise_email(address: str) -> str | None:
    """The address with its domain lower-cased, or None when its syntax is invalid."""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def email_is_disposable(address: str) -> bool:
    """True for a throw-away mailbox: its domain or a parent domain is on the community list
    (`a@x.mailinator.com` → `mailinator.com`), unless the list allows that domain."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in _DISPOSABLE_ALLOWED:
            return False
        if candidate in _DISPOSABLE:
            return True
    return False


def phone_e164(raw: str) -> str | None:
    """A French number (mainland or overseas) in E.164, or None when it is not one."""
    for region in _REGIONS:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return None
        if (
            phonenumbers.is_valid_number(number)
            and phonenumbers.region_code_for_number(number) in _REGIONS
            and phonenumbers.number_type(number) in _ALLOWED_TYPES
        ):
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return None


def phone_kind(e164: str | None) -> str:
    """`mobile` or `landline` for a number phone_e164 accepted, `unknown` for none."""
    if e164 is None:
        return "unknown"
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return "mobile" if kind == PhoneNumberType.MOBILE else "landline"
