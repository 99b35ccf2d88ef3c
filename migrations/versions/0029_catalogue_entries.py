"""the catalogue reads one row per open offer of an agency, and each offer's card once

Revision ID: 0029
Revises: 0034

A catalogue page read every consent the agency ever had (five joins each, then sorted): its cost
grew with the agency's history. `catalogue_entry` holds one row per (agency, open offer it may
still buy), with what the sorts and filters need, and keyset indexes for each sort; `offer.card`
holds the anonymised static part of an offer (commune, property, estimate, project), rendered
once when the offer opens.

Triggers keep the entries, so no code path that sells, withdraws or erases has to: the offer's
own row triggers (run under the offer's row lock) add them when it opens and remove them when it
sells out or is withdrawn; a purchase removes its agency's entry (the purchase holds the offer's
lock); a consent withdrawn removes its entry after taking the offer's lock; a lead regraded (its
contact confirmed) regrades its entries, under the same lock. Expired entries are
only hidden by the clock at read time; the scheduler purges them (`purge_catalogue`). Reads
join the live offer by primary key, so an entry that should be gone never shows a wrong offer.
Create Date: 2026-12-02 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0029"
down_revision = "0034"
branch_labels = None
depends_on = None

# The entries of one offer, recomputed from its row and its consents: an open offer (not
# withdrawn, not sold out; expiry is the clock's, read at read time) gets one entry per consent
# not withdrawn whose agency has not bought it. `$1` is the offer row (NEW).
_ENTRIES_OF = """
    INSERT INTO catalogue_entry (agency_id, lead_id, created_at, exclusive_until, expires_at,
                                 exclusive_price_cents, shared_price_cents, distance_m, reach,
                                 grade, property_type)
    SELECT lc.agency_id, o.lead_id, o.created_at, o.exclusive_until, o.expires_at,
           o.exclusive_price_cents, o.shared_price_cents, lc.distance_m::float8, lc.reach,
           l.grade, e.property_type
    FROM {offer} o
    JOIN lead l ON l.id = o.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN lead_consent lc ON lc.lead_id = o.lead_id
    WHERE lc.withdrawn_at IS NULL {where}
      AND o.withdrawn_at IS NULL AND o.exclusive_buyer IS NULL AND o.shared_buyers < o.shared_cap
      AND NOT EXISTS (SELECT 1 FROM purchase p
                      WHERE p.lead_id = o.lead_id AND p.agency_id = lc.agency_id)
    ON CONFLICT (agency_id, lead_id) DO NOTHING
"""


def upgrade() -> None:
    op.add_column("offer", sa.Column("card", sa.Text(), nullable=True))
    op.create_table(
        "catalogue_entry",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exclusive_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exclusive_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("shared_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("distance_m", postgresql.DOUBLE_PRECISION(), nullable=False),
        sa.Column("reach", sa.String(length=16), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("property_type", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_catalogue_entry_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["offer.lead_id"],
            name=op.f("fk_catalogue_entry_lead_id_offer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "lead_id", name=op.f("pk_catalogue_entry")),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "catalogue_entry", columns)

    # The card: what every agency sees of the offer before buying, the same for all of them.
    op.execute("""
        CREATE FUNCTION offer_card(lead uuid) RETURNS text LANGUAGE sql STABLE AS $$
            SELECT jsonb_build_object(
                'commune', c.name, 'commune_code', c.code, 'postal_code', e.postal_code,
                'property', e.property,
                'estimate', jsonb_build_object(
                    'low_eur', e.estimate->'low_eur', 'mid_eur', e.estimate->'mid_eur',
                    'high_eur', e.estimate->'high_eur', 'confidence', e.estimate->'confidence',
                    'synthetic', e.estimate->'synthetic'),
                'project', jsonb_build_object('timeline', l.timeline, 'is_owner', l.is_owner),
                'location_precision', e.location_precision)::text
            FROM lead l
            JOIN estimation e ON e.id = l.estimation_id
            JOIN commune c ON c.code = e.commune_code
            WHERE l.id = lead
        $$
    """)
    # Before the row is written: the card when the offer opens, none once it is withdrawn (an
    # erased or anonymised lead keeps no copy of what it was).
    op.execute("""
        CREATE FUNCTION offer_card_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.withdrawn_at IS NOT NULL THEN
                NEW.card := NULL;
            ELSIF NEW.card IS NULL THEN
                NEW.card := offer_card(NEW.lead_id);
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER offer_card BEFORE INSERT OR UPDATE OF withdrawn_at ON offer
        FOR EACH ROW EXECUTE FUNCTION offer_card_kept()
    """)
    # After the offer's row is written (so under its lock): its entries follow it. A purchase
    # that leaves the offer open only raises `shared_buyers`: nothing to do (the buyer's own
    # entry goes with the purchase row). Anything else is recomputed.
    entries_of_new = _ENTRIES_OF.format(offer="(SELECT NEW.*)", where="")
    op.execute(f"""
        CREATE FUNCTION catalogue_follow_offer() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND OLD.withdrawn_at IS NULL AND OLD.exclusive_buyer IS NULL
               AND OLD.shared_buyers < OLD.shared_cap
               AND NEW.withdrawn_at IS NULL AND NEW.exclusive_buyer IS NULL
               AND NEW.shared_buyers < NEW.shared_cap
               AND NEW.shared_buyers >= OLD.shared_buyers
               AND (NEW.created_at, NEW.exclusive_until, NEW.expires_at,
                    NEW.exclusive_price_cents, NEW.shared_price_cents)
                   IS NOT DISTINCT FROM
                   (OLD.created_at, OLD.exclusive_until, OLD.expires_at,
                    OLD.exclusive_price_cents, OLD.shared_price_cents) THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'UPDATE' THEN
                DELETE FROM catalogue_entry WHERE lead_id = NEW.lead_id;
            END IF;
            {entries_of_new};
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER catalogue_follow_offer
        AFTER INSERT OR UPDATE OF withdrawn_at, exclusive_buyer, shared_buyers, shared_cap,
            created_at, exclusive_until, expires_at, exclusive_price_cents, shared_price_cents
        ON offer FOR EACH ROW EXECUTE FUNCTION catalogue_follow_offer()
    """)
    # A purchase: the buyer's entry goes (the purchase runs under the offer's lock).
    op.execute("""
        CREATE FUNCTION catalogue_bought() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM catalogue_entry
            WHERE agency_id = NEW.agency_id AND lead_id = NEW.lead_id;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER catalogue_bought AFTER INSERT ON purchase
        FOR EACH ROW EXECUTE FUNCTION catalogue_bought()
    """)
    # A consent written or withdrawn: that agency's entry follows it, under the offer's lock
    # (when the offer exists: consents are written before their lead's offer opens).
    entries_of_consent = _ENTRIES_OF.format(
        offer="offer", where="AND o.lead_id = NEW.lead_id AND lc.agency_id = NEW.agency_id"
    )
    op.execute(f"""
        CREATE FUNCTION catalogue_follow_consent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM offer WHERE lead_id = NEW.lead_id FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            IF NEW.withdrawn_at IS NOT NULL THEN
                DELETE FROM catalogue_entry
                WHERE agency_id = NEW.agency_id AND lead_id = NEW.lead_id;
            ELSE
                {entries_of_consent};
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER catalogue_follow_consent
        AFTER INSERT OR UPDATE OF withdrawn_at ON lead_consent
        FOR EACH ROW EXECUTE FUNCTION catalogue_follow_consent()
    """)

    # The grade rises when the homeowner confirms their contact: the entries follow (the filter
    # by grade reads them), under the offer's lock like every change of an entry.
    op.execute("""
        CREATE FUNCTION catalogue_follow_grade() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM offer WHERE lead_id = NEW.id FOR UPDATE;
            UPDATE catalogue_entry SET grade = NEW.grade WHERE lead_id = NEW.id;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER catalogue_follow_grade AFTER UPDATE OF grade ON lead
        FOR EACH ROW WHEN (OLD.grade IS DISTINCT FROM NEW.grade)
        EXECUTE FUNCTION catalogue_follow_grade()
    """)

    # What exists already: the cards of every offer not withdrawn, the entries of open ones.
    op.execute("UPDATE offer SET card = offer_card(lead_id) WHERE withdrawn_at IS NULL")
    op.execute(_ENTRIES_OF.format(offer="offer", where="AND o.expires_at > clock_timestamp()"))


INDEXES = {
    # Newest first: a backward scan of (agency, created_at, lead).
    "ix_catalogue_entry_agency_id_created_at_lead_id": ["agency_id", "created_at", "lead_id"],
    "ix_catalogue_entry_agency_id_distance_m_lead_id": ["agency_id", "distance_m", "lead_id"],
    # Cheapest first: the shared rows by their price, the exclusive ones (a day of offers at
    # most) found by their window.
    "ix_catalogue_entry_agency_id_shared_price_cents_lead_id": [
        "agency_id",
        "shared_price_cents",
        "lead_id",
    ],
    "ix_catalogue_entry_agency_id_exclusive_until": ["agency_id", "exclusive_until"],
    # An offer's entries (sold out, withdrawn) and the purge of expired ones.
    "ix_catalogue_entry_lead_id": ["lead_id"],
    "ix_catalogue_entry_expires_at": ["expires_at"],
}


def downgrade() -> None:
    op.execute("DROP TRIGGER catalogue_follow_grade ON lead")
    op.execute("DROP TRIGGER catalogue_follow_consent ON lead_consent")
    op.execute("DROP TRIGGER catalogue_bought ON purchase")
    op.execute("DROP TRIGGER catalogue_follow_offer ON offer")
    op.execute("DROP TRIGGER offer_card ON offer")
    op.execute("DROP FUNCTION catalogue_follow_grade()")
    op.execute("DROP FUNCTION catalogue_follow_consent()")
    op.execute("DROP FUNCTION catalogue_bought()")
    op.execute("DROP FUNCTION catalogue_follow_offer()")
    op.execute("DROP FUNCTION offer_card_kept()")
    op.execute("DROP FUNCTION offer_card(uuid)")
    op.drop_table("catalogue_entry")
    op.drop_column("offer", "card")
