"""The checks a person must be told about: every field error of a submitted lead at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.contact.validation import (
    email_is_disposable,
    normalise_email,
    phone_e164,
    phone_kind,
)
from engine.errors import FieldError, RuleViolation
from engine.intake.consent import consent_errors, consented_agencies, embedding_origin

if TYPE_CHECKING:
    from engine.intake.submissions import LeadSubmission

TIMELINES = ("asap", "lt_3_months", "3_6_months", "gt_6_months", "curious")
NAME_MAX = 100


def validate_submission(
    session: Session, submission: LeadSubmission, candidates: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every field error at once, each at its JSON path, so the form can show them all."""
    errors: list[FieldError] = []
    contact = _contact(submission, errors)
    if submission.timeline not in TIMELINES:
        errors.append(
            FieldError(
                "project.timeline",
                "unknown_timeline",
                f"The timeline is one of {', '.join(TIMELINES)}.",
            )
        )
    consented = consented_agencies(submission, candidates, errors)
    contact["origin"] = embedding_origin(submission, errors)
    errors += consent_errors(session, submission)
    if errors:
        raise RuleViolation(errors)
    return contact, consented


def _contact(submission: LeadSubmission, errors: list[FieldError]) -> dict[str, Any]:
    """The homeowner's names, e-mail and phone, tidied; what is wrong, added to `errors`."""
    contact: dict[str, Any] = {}
    for field in ("first_name", "last_name"):
        value = " ".join(getattr(submission, field).split())
        if not value:
            errors.append(FieldError(f"contact.{field}", "required", "This field is required."))
        elif len(value) > NAME_MAX:
            errors.append(
                FieldError(f"contact.{field}", "too_long", f"At most {NAME_MAX} characters.")
            )
        contact[field] = value

    email = normalise_email(submission.email.strip())
    if email is None:
        errors.append(
            FieldError("contact.email", "invalid_email", "This e-mail address is not valid.")
        )
    elif email_is_disposable(email):
        errors.append(
            FieldError(
                "contact.email",
                "disposable_email",
                "Disposable e-mail addresses are not accepted: give one you read.",
            )
        )
    contact["email"] = email

    phone = phone_e164(submission.phone)
    if phone is None:
        errors.append(
            FieldError(
                "contact.phone",
                "invalid_phone",
                "Give a French phone number (mainland or overseas), e.g. 06 12 34 56 78.",
            )
        )
    contact["phone"] = phone
    contact["phone_type"] = phone_kind(phone)
    return contact
