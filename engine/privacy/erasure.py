"""Anonymising leads: what erasure (the homeowner's link) and retention (the clock) both do.

Nothing that names or locates the person is left behind: the lead's contact, client address and
browser; the street, and the point moved to the town hall (the distances to the agencies, from
which the point could be worked out again, rounded to the kilometre); the stored purchase
answers that held the contact; the messages sent to the homeowner (their text held the private
link) and the rate-limit buckets named after them; and what people wrote about the lead: the
buying agency's notes, its refund comment, staff's decision note (and its copy in the agency's
message). Invoices keep their lines (a commune and a date), the audit log its entries (ids,
never a person), the ledger its amounts.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.sales import offers

ERASED = "(effacé)"

# The same person as intake's duplicate check and the refund rules see them: a lead that shares
# the phone number or the e-mail address.
_SAME_PERSON = text("""
    SELECT other.id FROM lead l
    JOIN lead other ON other.erased_at IS NULL
                   AND (other.phone_e164 = l.phone_e164 OR other.email_key = l.email_key)
    WHERE l.id = :id AND l.erased_at IS NULL
    ORDER BY other.created_at, other.id
""")

# Messages to the homeowner: those of these leads, and any other to their address unless a lead
# kept (not anonymised now) still has that address.
_HOMEOWNER_MAIL = text("""
    DELETE FROM outbox o USING lead l
    WHERE l.id = ANY(:ids) AND o.agency_id IS NULL
      AND (o.event_key LIKE l.id::text || ':%'
           OR (lower(o.recipient) = l.email_key
               AND NOT EXISTS (SELECT 1 FROM lead kept
                               WHERE kept.email_key = l.email_key AND kept.erased_at IS NULL
                                 AND kept.id <> ALL(:ids))))
""")

# Rate-limit buckets keyed by the person's address or phone.
_BUCKETS = text("""
    DELETE FROM rate_bucket b USING lead l
    WHERE l.id = ANY(:ids)
      AND (strpos(b.key, l.email_key) > 0 OR strpos(b.key, l.phone_e164) > 0)
""")

_LEAD = text("""
    UPDATE lead SET first_name = NULL, last_name = NULL, email = NULL,
           phone_e164 = NULL, user_agent = NULL, client_ip = NULL,
           erased_at = clock_timestamp()
    WHERE id = ANY(:ids) AND erased_at IS NULL
""")

_ESTIMATION = text("""
    UPDATE estimation e SET street = NULL, location = c.town_hall,
           location_precision = 'town_hall',
           candidates = (SELECT coalesce(jsonb_agg(
                             x || jsonb_build_object('distance_m',
                                                     round((x->>'distance_m')::numeric, -3))
                             ORDER BY n), '[]')
                         FROM jsonb_array_elements(e.candidates) WITH ORDINALITY AS t(x, n))
    FROM commune c, lead l
    WHERE c.code = e.commune_code AND l.estimation_id = e.id AND l.id = ANY(:ids)
""")

_WRITTEN_ABOUT = (
    text("UPDATE lead_consent SET distance_m = round(distance_m, -3) WHERE lead_id = ANY(:ids)"),
    text("UPDATE purchase SET notes = '' WHERE lead_id = ANY(:ids) AND notes <> ''"),
    text("""
        UPDATE refund_request r
        SET comment = CASE WHEN r.comment = '' THEN '' ELSE :erased END,
            decision_note = CASE WHEN r.decided_by IS NULL THEN r.decision_note ELSE :erased END
        FROM purchase p
        WHERE p.id = r.purchase_id AND p.lead_id = ANY(:ids)
    """),
    # What the agency's people wrote while working the contact (engine.crm).
    text("""
        UPDATE contact_interaction i
        SET body = CASE WHEN i.body = '' THEN '' ELSE :erased END
        FROM purchase p WHERE p.id = i.purchase_id AND p.lead_id = ANY(:ids)
    """),
    text("""
        UPDATE contact_reminder r SET note = :erased
        FROM purchase p WHERE p.id = r.purchase_id AND p.lead_id = ANY(:ids)
    """),
    text("""
        UPDATE appointment a
        SET place = '', note = CASE WHEN a.note = '' THEN '' ELSE :erased END
        FROM purchase p WHERE p.id = a.purchase_id AND p.lead_id = ANY(:ids)
    """),
    # The decision note travels to the agency in its `refund.decided` message.
    text("""
        UPDATE outbox o SET payload = o.payload || jsonb_build_object('note', CAST(:erased AS text))
        FROM purchase p
        WHERE p.lead_id = ANY(:ids) AND o.payload->>'purchase_id' = p.id::text
          AND o.payload ? 'note'
    """),
)


_LOCK_OFFERS = text("SELECT 1 FROM offer WHERE lead_id = ANY(:ids) ORDER BY lead_id FOR UPDATE")


def lock_offers(session: Session, lead_ids: list[Any]) -> None:
    """Take the offers' locks before changing what a purchase reads (the contact, a consent):
    a purchase holding one commits first, and what follows sees it (its stored answer is
    erased too, its buyer told); a purchase that comes later waits, then sees the change. The
    purchase's order (key, offer, agency) is kept: nothing here locks a key or an agency first."""
    session.execute(_LOCK_OFFERS, {"ids": lead_ids})


def same_person(session: Session, lead_id: uuid.UUID) -> list[uuid.UUID]:
    """This lead and every other lead of the same person not yet anonymised (none when this one
    was)."""
    return list(session.execute(_SAME_PERSON, {"id": lead_id}).scalars())


def anonymise(session: Session, lead_ids: list[Any], reason: str) -> int:
    """Anonymises these leads and withdraws their offers: how many were not anonymised yet."""
    if not lead_ids:
        return 0
    lock_offers(session, lead_ids)
    params = {"ids": lead_ids, "reason": reason, "erased": ERASED}
    session.execute(_HOMEOWNER_MAIL, params)
    session.execute(_BUCKETS, params)
    done = session.execute(_LEAD, params).rowcount  # type: ignore[attr-defined]
    session.execute(_ESTIMATION, params)
    for statement in _WRITTEN_ABOUT:
        session.execute(statement, params)
    session.execute(
        text("""
            UPDATE idempotency_key SET response = NULL
            WHERE response->>'lead_id' = ANY(CAST(:ids AS text[]))
        """),
        {"ids": [str(i) for i in lead_ids]},
    )
    offers.withdraw(session, lead_ids, reason)
    return int(done)
