"""an offer's changes are announced to the agencies it is offered to (LISTEN/NOTIFY)

Revision ID: 0024
Revises: 0022

Espace Pro's inbox shows a new lead without reload, whichever server process wrote it: each
process LISTENs on the channel `mandat_offer` and forwards to the open inboxes of the agency
named. A notification is sent when an offer opens, when it is bought (sold out, or one shared
place fewer), withdrawn or becomes shared, and when a homeowner withdraws an agency's consent.
The payload is only `<agency id>:<lead id>`: no personal data travels on the channel.

Constraint triggers, deferred to the commit: they see the consents written in the same
transaction whatever the order of the inserts, and NOTIFY itself is delivered at commit only
(never for a transaction rolled back).
Create Date: 2026-12-02 12:00:00.000000
"""

from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None

CHANNEL = "mandat_offer"


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION notify_offer_agencies() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', lc.agency_id::text || ':' || NEW.lead_id::text)
            FROM lead_consent lc
            WHERE lc.lead_id = NEW.lead_id AND lc.withdrawn_at IS NULL;
            RETURN NULL;
        END $$
    """)
    op.execute(f"""
        CREATE FUNCTION notify_consent_agency() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.agency_id::text || ':' || NEW.lead_id::text);
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER offer_opened AFTER INSERT ON offer
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        EXECUTE FUNCTION notify_offer_agencies()
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER offer_changed AFTER UPDATE ON offer
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        WHEN (OLD.exclusive_buyer IS DISTINCT FROM NEW.exclusive_buyer
              OR OLD.shared_buyers IS DISTINCT FROM NEW.shared_buyers
              OR OLD.withdrawn_at IS DISTINCT FROM NEW.withdrawn_at
              OR OLD.announced IS DISTINCT FROM NEW.announced)
        EXECUTE FUNCTION notify_offer_agencies()
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER consent_withdrawn AFTER UPDATE ON lead_consent
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        WHEN (OLD.withdrawn_at IS NULL AND NEW.withdrawn_at IS NOT NULL)
        EXECUTE FUNCTION notify_consent_agency()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER consent_withdrawn ON lead_consent")
    op.execute("DROP TRIGGER offer_changed ON offer")
    op.execute("DROP TRIGGER offer_opened ON offer")
    op.execute("DROP FUNCTION notify_consent_agency()")
    op.execute("DROP FUNCTION notify_offer_agencies()")
