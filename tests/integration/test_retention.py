"""Retention jobs with a controllable clock: unsold leads anonymised after 90 days, sold leads
after 3 years, invoices kept, each run audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from engine.accounts.authentication import authenticate
from engine.privacy.retention import run_retention
from engine.sales.buy import PurchaseRequest, purchase_lead
from engine.settings import read_settings
from tests.market import buyers, offered_lead


def contacts(session) -> list[tuple[object, object]]:  # type: ignore[no-untyped-def]
    return [
        tuple(r)
        for r in session.execute(text("SELECT id, phone_e164 FROM lead ORDER BY created_at"))
    ]


def test_unsold_after_90_days_and_sold_after_3_years(session) -> None:
    (a,) = buyers(session, 1)
    unsold = offered_lead(session)
    sold = offered_lead(session)
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": sold}
    ).scalar_one()
    purchase_lead(session, authenticate(session, a.key), PurchaseRequest(sold, "exclusive", price))
    session.commit()
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    settings = read_settings(session)

    at_89_days = run_retention(session, now + timedelta(days=89), settings)
    at_91_days = run_retention(session, now + timedelta(days=91), settings)
    phones = dict(contacts(session))
    after_3_years = run_retention(session, now + timedelta(days=3 * 365 + 1), settings)
    session.commit()

    leads = ("unsold_anonymised", "sold_anonymised")
    assert [at_89_days[k] for k in leads] == [0, 0]
    assert [at_91_days[k] for k in leads] == [1, 0]
    assert phones[unsold] is None
    assert phones[sold] is not None
    assert [after_3_years[k] for k in leads] == [0, 1]
    assert all(phone is None for _, phone in contacts(session))
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1
    assert session.execute(text("SELECT count(*) FROM ledger_line")).scalar_one() == 1
    runs = (
        session.execute(
            text("SELECT details FROM audit_log WHERE action = 'retention.ran' ORDER BY id")
        )
        .scalars()
        .all()
    )
    assert [r["unsold_anonymised"] for r in runs] == [0, 1, 0]


def test_the_periods_are_settings(session) -> None:
    buyers(session, 1)
    offered_lead(session)
    session.execute(text("UPDATE setting SET value = '10' WHERE key = 'retention_unsold_days'"))
    session.commit()
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()

    counts = run_retention(session, now + timedelta(days=11), read_settings(session))

    assert counts["unsold_anonymised"] == 1


def test_access_log_files_are_deleted_after_their_period(session, tmp_path) -> None:
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    days = {n: (now - timedelta(days=n)).date().isoformat() for n in (0, 364, 365, 366, 800)}
    for day in days.values():
        (tmp_path / f"access-{day}-4242.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("not an access log")
    settings = read_settings(session)

    done = run_retention(session, now, settings, tmp_path)
    shorter = run_retention(session, now, {**settings, "retention_access_log_days": 30}, tmp_path)
    session.commit()

    assert done["access_log_files_purged"] == 2  # 366 and 800 days old
    assert shorter["access_log_files_purged"] == 2  # 364 and 365 days old
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f"access-{days[0]}-4242.jsonl", "notes.txt"]
    runs = session.execute(
        text("SELECT details FROM audit_log WHERE action = 'retention.ran' ORDER BY id")
    ).scalars()
    assert [r["access_log_files_purged"] for r in runs] == [2, 2]


def test_idempotency_keys_and_their_stored_contact_go_after_24_hours(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    buyer = authenticate(session, a.key)
    request = PurchaseRequest(lead, "exclusive", price, idempotency_key="retry-me")
    purchase_lead(session, buyer, request)
    session.commit()
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    settings = read_settings(session)

    at_23_hours = run_retention(session, now + timedelta(hours=23), settings)
    replay = purchase_lead(session, buyer, request)
    at_25_hours = run_retention(session, now + timedelta(hours=25), settings)
    session.commit()

    assert at_23_hours["idempotency_keys_purged"] == 0
    assert replay.replayed
    assert at_25_hours["idempotency_keys_purged"] == 1
    assert session.execute(text("SELECT count(*) FROM idempotency_key")).scalar_one() == 0
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1
