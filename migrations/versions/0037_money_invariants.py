"""the ledger's money rules held by the database, not only by the code that writes it

Revision ID: 0037
Revises: 0031

Issue 18 item 4. A purchase's ledger line is its price, for the purchase's own agency; the
refund lines of a purchase never add up to more than its price. The code that writes the ledger
checks both (`buy_lead`, `add_refund_line`); this trigger refuses a line that breaks them
whoever writes it. A refund line locks its purchase first, so two refunds written at once are
checked one after the other (a purchase line needs no lock: its purchase was inserted by the
same transaction). An issued document's total equals the sum of its lines since 0012.
Create Date: 2026-12-02 23:30:00.000000
"""

from alembic import op

revision = "0037"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION ledger_line_within_price() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            bought purchase%ROWTYPE;
            refunded bigint;
        BEGIN
            IF NEW.kind = 'refund' THEN
                SELECT * INTO bought FROM purchase WHERE id = NEW.purchase_id FOR UPDATE;
            ELSE
                SELECT * INTO bought FROM purchase WHERE id = NEW.purchase_id;
            END IF;
            IF NOT FOUND THEN
                RETURN NEW;  -- the foreign key refuses it
            END IF;
            IF NEW.agency_id <> bought.agency_id THEN
                RAISE EXCEPTION 'a ledger line belongs to its purchase''s agency'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_line_agency';
            END IF;
            IF NEW.kind = 'purchase' AND NEW.amount_cents <> bought.price_cents THEN
                RAISE EXCEPTION 'a purchase line is the purchase''s price (% cents)',
                    bought.price_cents
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_line_purchase_price';
            END IF;
            IF NEW.kind = 'refund' THEN
                SELECT coalesce(-sum(amount_cents), 0) INTO refunded FROM ledger_line
                WHERE purchase_id = NEW.purchase_id AND kind = 'refund';
                IF refunded - NEW.amount_cents > bought.price_cents THEN
                    RAISE EXCEPTION 'refunds of a purchase never add up to more than its price'
                        USING ERRCODE = 'check_violation',
                              CONSTRAINT = 'ledger_line_refunds_within_price';
                END IF;
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER ledger_line_within_price BEFORE INSERT ON ledger_line
        FOR EACH ROW EXECUTE FUNCTION ledger_line_within_price()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_line_within_price ON ledger_line")
    op.execute("DROP FUNCTION ledger_line_within_price()")
