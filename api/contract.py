"""What each operation promises in the OpenAPI document: a stable operationId and every problem
it can answer (status, the `code` values, an example of each), beside its success schema.

A route declares them in its decorator: `@get(..., **operation("listOffers", AGENCY, ...))`.
A client generated from the document then knows every answer; schemathesis checks that the
server keeps to it (tests/e2e/test_openapi_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, OpenAPIType, Operation, Schema
from msgspec import UNSET, Struct, UnsetType

from api.errors import PROBLEM, TITLES


class FieldProblem(Struct):
    """One invalid input: where (a JSON path, or a parameter's name), a code and a sentence."""

    path: str
    code: str
    message: str


class Problem(Struct):
    """An error, as RFC 9457 problem details with a stable machine `code`. Some problems carry
    more members (e.g. `errors` for a 422, the ids a 409 refers to)."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldProblem] | UnsetType = UNSET


# A readable sentence for each code, used in the examples of the document.
DETAILS = {
    "missing_api_key": "An API key is required: Authorization: Bearer <key>.",
    "invalid_api_key": "A valid API key is required.",
    "forbidden_role": "This action needs the role owner.",
    "agency_key_required": "This action is for agency keys.",
    "invalid_token": "This link is not valid or has expired.",
    "validation_failed": "This field is not valid.",
    "invalid_request": "The request could not be read (is the body JSON?).",
    "try_again": "A concurrent change got in the way: send the same request again.",
    "not_found": "Nothing here.",
    "agency_not_found": "No such agency.",
    "partner_not_found": "No partner named 'immo-partenaire'.",
    "partner_exists": "A partner named 'immo-partenaire' exists.",
    "api_key_not_found": "Your agency has no key with this id.",
    "api_key_revoked": "This key is revoked: issue a new one.",
    "own_key": "Another owner must change your own key's role.",
    "siret_taken": "An agency with this SIRET already exists.",
    "email_taken": "A person already uses this e-mail address.",
    "lead_not_found": "No lead with this id is offered to your agency.",
    "purchase_not_found": "No purchase of your agency has this id.",
    "account_suspended": "Your account is suspended: settle the unpaid invoice to buy again.",
    "already_purchased": "Your agency already bought this lead.",
    "agency_paused": "Your agency is paused: resume it to buy leads.",
    "lead_unavailable": "This lead is no longer on sale.",
    "mode_unavailable": "This lead is offered shared only now.",
    "price_changed": "The price has changed: check it and buy again.",
    "budget_exceeded": "This purchase would exceed your monthly budget.",
    "idempotency_key_reused": "This Idempotency-Key was used for another request.",
    "refund_already_requested": "A refund was already asked for this purchase.",
    "refund_window_closed": "The refund window of this purchase has closed.",
    "refund_request_not_found": "No refund request has this id.",
    "already_decided": "This request is already approved.",
    "invoice_not_found": "No invoice of yours has this id.",
    "credit_note_not_found": "No credit note of yours has this id.",
    "billing_run_not_found": "No billing run has this id.",
    "not_einvoiced": "F-2026-000123 cannot be an e-invoice as stored (Mandat SAS: no siren,"
    " street, postcode, city on the stored document): its JSON and printable page are the"
    " document.",
    "card_declined": "This card was refused: use another one (the code may be Stripe's own).",
    "estimation_not_found": "No estimation has this id.",
    "erased": "These data were erased.",
    "consent_not_found": "This agency was not among those you agreed to.",
    "contact_disowned": "You told us this request was not yours: it was withdrawn.",
    "contact_confirmed": "You confirmed this request was yours: erase your data to stop it.",
    "invalid_signature": "The signature does not check out.",
    "too_many_requests": "Too many requests: wait before trying again.",
    "too_many_failures": "Too many wrong keys with this prefix: wait before trying again.",
    "body_too_large": "The request body is larger than this route takes.",
}


@dataclass(frozen=True)
class Answer:
    """Problems an operation may answer with one status."""

    status: int
    codes: tuple[str, ...]


def not_found(*codes: str) -> Answer:
    # Any malformed id in the path is answered by the router: 404 `not_found`.
    return Answer(404, (*codes, "not_found"))


def conflict(*codes: str) -> Answer:
    return Answer(409, codes)


def payment_required(*codes: str) -> Answer:
    return Answer(402, codes)


def forbidden(*codes: str) -> Answer:
    return Answer(403, codes)


UNAUTHENTICATED = Answer(401, ("missing_api_key", "invalid_api_key"))
ROLE = forbidden("forbidden_role")
AGENCY_KEY = forbidden("agency_key_required")
INVALID = Answer(422, ("validation_failed",))
UNREADABLE = Answer(400, ("invalid_request",))
BUSY = Answer(503, ("try_again",))
# A body over the route's limit (64 KB unless the route says otherwise: api.limits).
TOO_LARGE = Answer(413, ("body_too_large",))
# A rate limit (api.limits), answered with Retry-After.
LIMITED = Answer(429, ("too_many_requests",))
# What every operation with an API key may answer: wrong secrets under one key prefix are
# throttled (engine.accounts.authentication).
KEYED = (UNAUTHENTICATED, ROLE, INVALID, BUSY, TOO_LARGE, Answer(429, ("too_many_failures",)))
PUBLIC = (INVALID, BUSY, LIMITED)
# The homeowner's private link: a token, no key.
HOMEOWNER = (forbidden("invalid_token"), INVALID, BUSY, LIMITED)


# Operations whose success answer also comes in another media type (by a query parameter).
_ALSO_AS: dict[str, str] = {}


def operation(operation_id: str, *answers: Answer, also_as: str | None = None) -> dict[str, Any]:
    """The keywords of a route decorator: its operationId and its problem answers; `also_as`
    names a second media type its success answer may take (e.g. `text/csv`)."""
    if also_as:
        _ALSO_AS[operation_id] = also_as
    return {
        "operation_id": operation_id,
        "responses": problems(*answers),
        "operation_class": ContractOperation,
    }


def problems(*answers: Answer) -> dict[int, ResponseSpec]:
    merged: dict[int, list[str]] = {}
    for answer in answers:
        codes = merged.setdefault(answer.status, [])
        codes.extend(c for c in answer.codes if c not in codes)
    return {status: _spec(status, codes) for status, codes in sorted(merged.items())}


def _spec(status: int, codes: list[str]) -> ResponseSpec:
    listed = ", ".join(f"`{c}`" for c in codes)
    return ResponseSpec(
        data_container=Problem,
        generate_examples=False,
        description=f"{TITLES.get(status, 'Error')}: `code` is one of {listed}.",
        media_type=PROBLEM,
        examples=[Example(summary=code, value=_example(status, code)) for code in codes],
    )


def _example(status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://mandat.example/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": DETAILS[code],
    }
    if status == 422:
        body["errors"] = [{"path": "name", "code": "invalid_name", "message": body["detail"]}]
    return body


@dataclass
class ContractOperation(Operation):
    """Drops the error answers Litestar adds by itself (a 400 `ValidationException` shape that
    Mandat never sends: its validation errors are 422 problems, declared per operation), and
    adds the second media type of a success answer that has one."""

    def __post_init__(self) -> None:
        also = _ALSO_AS.get(self.operation_id or "")
        for status, answer in list((self.responses or {}).items()):
            content = getattr(answer, "content", None)
            if also and status.startswith("2") and content is not None:
                content[also] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
            content = getattr(answer, "content", None) or {}
            if status.startswith(("4", "5")) and PROBLEM not in content:
                del self.responses[status]  # type: ignore[index]
