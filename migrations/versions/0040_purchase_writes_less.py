"""the purchase's writes cost less: the catalogue's offer trigger runs only when it has work

Revision ID: 0040
Revises: 0039

Issue 16. Measured without instrumentation (benchmarks/buy_lead_sql.py), a third of
PostgreSQL's CPU per `buy_lead` call was the trigger `catalogue_follow_offer`: it ran on every
purchase, and on every sell-out planned and ran its insert of the offer's entries (four joins)
although a closed offer has none to insert.

- The update of an offer that leaves it open with the same terms (a shared purchase that does
  not sell it out: only `shared_buyers` rises) no longer calls the function at all: the test
  the function made first is now the trigger's WHEN clause (its negation, NULL counted as
  before), so the row is not even queued for an AFTER trigger. The insert of an offer has a
  trigger of its own (WHEN cannot read OLD there), running the same function.
- An offer written closed (withdrawn, sold out) has its entries deleted and nothing inserted:
  the insert's WHERE required it open, so it inserted nothing, but it was planned and run.

The entries are exactly what they were after every write (tests/integration/
test_catalogue_entries.py); only work that changed nothing is skipped. The call then costs
PostgreSQL 0.70–0.85 of the CPU it did (README, "Purchases over HTTP, next to pgbench").
Downgrade restores 0029's function and trigger.
Create Date: 2026-12-03 08:00:00.000000
"""

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

# The entries of the offer row NEW (as 0029 wrote them): one per consent not withdrawn whose
# agency has not bought it, when the offer is open.
_ENTRIES_OF_NEW = """
    INSERT INTO catalogue_entry (agency_id, lead_id, created_at, exclusive_until, expires_at,
                                 exclusive_price_cents, shared_price_cents, distance_m, reach,
                                 grade, property_type)
    SELECT lc.agency_id, o.lead_id, o.created_at, o.exclusive_until, o.expires_at,
           o.exclusive_price_cents, o.shared_price_cents, lc.distance_m::float8, lc.reach,
           l.grade, e.property_type
    FROM (SELECT NEW.*) o
    JOIN lead l ON l.id = o.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN lead_consent lc ON lc.lead_id = o.lead_id
    WHERE lc.withdrawn_at IS NULL
      AND o.withdrawn_at IS NULL AND o.exclusive_buyer IS NULL AND o.shared_buyers < o.shared_cap
      AND NOT EXISTS (SELECT 1 FROM purchase p
                      WHERE p.lead_id = o.lead_id AND p.agency_id = lc.agency_id)
    ON CONFLICT (agency_id, lead_id) DO NOTHING
"""

# An update with nothing for the entries to follow: open before and after, the same terms, no
# buyer fewer (a shared purchase that leaves the offer open; its buyer's own entry goes with
# the purchase row, trigger `catalogue_bought`).
_UNCHANGED_OPEN = """
    OLD.withdrawn_at IS NULL AND OLD.exclusive_buyer IS NULL
    AND OLD.shared_buyers < OLD.shared_cap
    AND NEW.withdrawn_at IS NULL AND NEW.exclusive_buyer IS NULL
    AND NEW.shared_buyers < NEW.shared_cap
    AND NEW.shared_buyers >= OLD.shared_buyers
    AND (NEW.created_at, NEW.exclusive_until, NEW.expires_at,
         NEW.exclusive_price_cents, NEW.shared_price_cents)
        IS NOT DISTINCT FROM
        (OLD.created_at, OLD.exclusive_until, OLD.expires_at,
         OLD.exclusive_price_cents, OLD.shared_price_cents)
"""

_COLUMNS = (
    "withdrawn_at, exclusive_buyer, shared_buyers, shared_cap, created_at, exclusive_until,"
    " expires_at, exclusive_price_cents, shared_price_cents"
)


def upgrade() -> None:
    # After the offer's row is written (so under its lock): its entries follow it.
    op.execute(f"""
        CREATE OR REPLACE FUNCTION catalogue_follow_offer() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM catalogue_entry WHERE lead_id = NEW.lead_id;
            END IF;
            -- A closed offer has no entries (the insert below would find none).
            IF (NEW.withdrawn_at IS NULL AND NEW.exclusive_buyer IS NULL
                AND NEW.shared_buyers < NEW.shared_cap) IS NOT TRUE THEN
                RETURN NULL;
            END IF;
            {_ENTRIES_OF_NEW};
            RETURN NULL;
        END $$
    """)
    op.execute("DROP TRIGGER catalogue_follow_offer ON offer")
    op.execute("""
        CREATE TRIGGER catalogue_follow_offer_opened AFTER INSERT ON offer
        FOR EACH ROW EXECUTE FUNCTION catalogue_follow_offer()
    """)
    op.execute(f"""
        CREATE TRIGGER catalogue_follow_offer AFTER UPDATE OF {_COLUMNS} ON offer
        FOR EACH ROW WHEN (({_UNCHANGED_OPEN}) IS NOT TRUE)
        EXECUTE FUNCTION catalogue_follow_offer()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER catalogue_follow_offer ON offer")
    op.execute("DROP TRIGGER catalogue_follow_offer_opened ON offer")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION catalogue_follow_offer() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND {_UNCHANGED_OPEN} THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM catalogue_entry WHERE lead_id = NEW.lead_id;
            END IF;
            {_ENTRIES_OF_NEW};
            RETURN NULL;
        END $$
    """)
    op.execute(f"""
        CREATE TRIGGER catalogue_follow_offer
        AFTER INSERT OR UPDATE OF {_COLUMNS}
        ON offer FOR EACH ROW EXECUTE FUNCTION catalogue_follow_offer()
    """)
