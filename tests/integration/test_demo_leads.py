"""Demo leads go through the form's two steps and are labelled synthetic everywhere."""

from __future__ import annotations

from sqlalchemy import text

from engine.contact.validation import phone_e164
from engine.demo.leads import FICTION_PREFIXES, seed_leads
from engine.demo.seed import seed_agencies


def test_demo_leads_are_qualified_offers_from_fictional_homeowners(session) -> None:
    seed_agencies(session, 2_000, seed=1)  # only leads with an agency nearby are kept

    made = seed_leads(session, 40, seed=7)
    session.commit()

    rows = session.execute(
        text("""
            SELECT l.status, l.last_name, l.email, l.phone_e164, e.source,
                   (SELECT count(*) FROM offer o WHERE o.lead_id = l.id) AS offers
            FROM lead l JOIN estimation e ON e.id = l.estimation_id
        """)
    ).all()
    assert len(rows) == made > 0
    assert {r.status for r in rows} == {"qualified"}
    assert {r.last_name for r in rows} == {"Démo"}
    assert all(r.email.endswith("@demo.mandat.example") for r in rows)
    fiction = {phone_e164(p.replace(" ", "") + "0000")[:9] for p in FICTION_PREFIXES}  # type: ignore[index]
    assert all(r.phone_e164[:9] in fiction for r in rows)
    assert {r.source for r in rows} == {"demo"}
    assert all(r.offers == 1 for r in rows)
    assert seed_leads(session, 10, if_empty=True) == 0
