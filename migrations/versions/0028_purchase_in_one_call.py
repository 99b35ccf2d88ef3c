"""the purchase in one call: `buy_lead(...)` and each agency's spend per month

Revision ID: 0028
Revises: 0029

A purchase was about twenty round trips between the server and the database. `buy_lead` does
the same work in one call (docs/adr/0004): it claims the Idempotency-Key (or replays the answer
given with it), locks the offer, reads the clock, locks the agency, checks the rules in the
order `engine/sales/rules.py` states them, and records the purchase, its ledger line, the audit
row and the notifications, then returns the answer as stored for replays. A refusal raises
SQLSTATE `MD4xx` (the HTTP status it becomes) with the refusal's code as its message and the
facts its answer carries as JSON in DETAIL; raising rolls everything back, the key's claim too.

`agency_month_spend` keeps what each agency spent on leads per month (Paris time), kept by a
trigger on every write to a purchase line of the ledger, so the monthly budget is checked by
reading one or two rows instead of summing the month's lines.
Create Date: 2026-12-02 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0029"
branch_labels = None
depends_on = None

# The month (its first day, Paris time) a moment belongs to: the budget's month.
PARIS_MONTH = """
    CREATE FUNCTION paris_month(at timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_trunc('month', at AT TIME ZONE 'Europe/Paris')::date
"""

KEEP_MONTH_SPEND = """
    CREATE FUNCTION keep_agency_month_spend() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM agency_month_spend;
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'purchase' THEN
            UPDATE agency_month_spend SET cents = cents - OLD.amount_cents
            WHERE agency_id = OLD.agency_id AND month = paris_month(OLD.created_at);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'purchase' THEN
            INSERT INTO agency_month_spend AS s (agency_id, month, cents)
            VALUES (NEW.agency_id, paris_month(NEW.created_at), NEW.amount_cents)
            ON CONFLICT (agency_id, month) DO UPDATE SET cents = s.cents + EXCLUDED.cents;
        END IF;
        RETURN NULL;
    END $$
"""

# The refusals, in the order of `engine.sales.rules.refusal` (the rules as Python states them):
# keep both in step. The phase is `engine.sales.offers.PHASE_SQL`.
BUY_LEAD = """
    CREATE FUNCTION buy_lead(
        p_key uuid, p_person uuid, p_role text, p_agency uuid, p_lead uuid,
        p_mode text, p_price bigint, p_idempotency_key text, p_request_hash text,
        OUT body text, OUT replayed boolean
    ) LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        r_key record; r_offer record; r_consent record; r_agency record; r_lead record;
        v_now timestamptz; v_phase text; v_mode text; v_price bigint; v_spent bigint;
        v_already boolean;
        v_purchase uuid := gen_random_uuid();
        v_answer jsonb;
    BEGIN
        -- The caller, read now: a key revoked a moment ago buys nothing.
        IF p_key IS NOT NULL THEN
            SELECT role, agency_id INTO r_key FROM api_key
            WHERE id = p_key AND revoked_at IS NULL;
            IF NOT FOUND OR r_key.agency_id IS DISTINCT FROM p_agency THEN
                RAISE EXCEPTION 'invalid_api_key' USING ERRCODE = 'MD401', DETAIL = '{}';
            END IF;
            p_role := r_key.role;
        END IF;
        IF p_role IS NULL OR p_role NOT IN ('owner', 'buyer') THEN
            RAISE EXCEPTION 'forbidden_role' USING ERRCODE = 'MD403', DETAIL = '{}';
        END IF;

        -- Lock 1, the Idempotency-Key: a concurrent holder is awaited, then replayed.
        IF p_idempotency_key IS NOT NULL THEN
            INSERT INTO idempotency_key (agency_id, key, request_hash)
            VALUES (p_agency, p_idempotency_key, p_request_hash)
            ON CONFLICT (agency_id, key) DO NOTHING;
            IF NOT FOUND THEN
                SELECT request_hash, response INTO r_key FROM idempotency_key
                WHERE agency_id = p_agency AND key = p_idempotency_key;
                IF NOT FOUND THEN  -- purged between the two statements: nothing was done
                    RAISE EXCEPTION 'idempotency key gone' USING ERRCODE = '40001';
                END IF;
                IF r_key.request_hash <> p_request_hash THEN
                    RAISE EXCEPTION 'idempotency_key_reused' USING ERRCODE = 'MD409',
                        DETAIL = '{}';
                END IF;
                IF r_key.response IS NULL THEN  -- the homeowner erased their data since
                    RAISE EXCEPTION 'lead_unavailable' USING ERRCODE = 'MD409',
                        DETAIL = '{"phase": "withdrawn"}';
                END IF;
                body := r_key.response::text;
                replayed := true;
                RETURN;
            END IF;
        END IF;

        -- Lock 2, the offer; then, in statements of their own (each sees what committed
        -- while it waited), the consent and the clock.
        SELECT lead_id, exclusive_price_cents, shared_price_cents, shared_cap, shared_buyers,
               exclusive_until, expires_at, price_grid_version, price_factors,
               exclusive_buyer, withdrawn_at
        INTO r_offer FROM offer WHERE lead_id = p_lead FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'lead_not_found' USING ERRCODE = 'MD404', DETAIL = '{}';
        END IF;
        SELECT rank, reach, distance_m INTO r_consent FROM lead_consent
        WHERE lead_id = p_lead AND agency_id = p_agency AND withdrawn_at IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'lead_not_found' USING ERRCODE = 'MD404', DETAIL = '{}';
        END IF;
        v_now := clock_timestamp();
        v_phase := CASE
            WHEN r_offer.withdrawn_at IS NOT NULL THEN 'withdrawn'
            WHEN r_offer.exclusive_buyer IS NOT NULL OR r_offer.shared_buyers >= r_offer.shared_cap
                THEN 'sold_out'
            WHEN v_now >= r_offer.expires_at THEN 'expired'
            WHEN v_now < r_offer.exclusive_until THEN 'offered_exclusive'
            ELSE 'offered_shared'
        END;

        -- Lock 3, the agency (NO KEY UPDATE: this purchase's own inserts take key-share locks
        -- on it); its spend is read in the next statement, after the wait.
        SELECT status, paused, monthly_budget_cents, webhook_url IS NOT NULL AS webhook
        INTO r_agency FROM agency WHERE id = p_agency FOR NO KEY UPDATE;
        SELECT coalesce(sum(cents), 0) INTO v_spent FROM agency_month_spend
        WHERE agency_id = p_agency AND month >= paris_month(v_now);
        v_already := EXISTS (SELECT 1 FROM purchase WHERE lead_id = p_lead AND agency_id = p_agency);

        IF r_agency.status = 'suspended' THEN
            RAISE EXCEPTION 'account_suspended' USING ERRCODE = 'MD402', DETAIL = '{}';
        END IF;
        IF v_already THEN
            RAISE EXCEPTION 'already_purchased' USING ERRCODE = 'MD409', DETAIL = '{}';
        END IF;
        IF r_agency.paused THEN
            RAISE EXCEPTION 'agency_paused' USING ERRCODE = 'MD409', DETAIL = '{}';
        END IF;
        v_mode := CASE v_phase WHEN 'offered_exclusive' THEN 'exclusive'
                               WHEN 'offered_shared' THEN 'shared' END;
        IF v_mode IS NULL THEN
            RAISE EXCEPTION 'lead_unavailable' USING ERRCODE = 'MD409',
                DETAIL = json_build_object('phase', v_phase)::text;
        END IF;
        IF p_mode IS DISTINCT FROM v_mode THEN
            RAISE EXCEPTION 'mode_unavailable' USING ERRCODE = 'MD409',
                DETAIL = json_build_object('mode', v_mode)::text;
        END IF;
        v_price := CASE v_mode WHEN 'exclusive' THEN r_offer.exclusive_price_cents
                               ELSE r_offer.shared_price_cents END;
        IF p_price IS DISTINCT FROM v_price THEN
            RAISE EXCEPTION 'price_changed' USING ERRCODE = 'MD409',
                DETAIL = json_build_object('price_cents', v_price)::text;
        END IF;
        IF r_agency.monthly_budget_cents IS NOT NULL AND v_spent + v_price > r_agency.monthly_budget_cents THEN
            RAISE EXCEPTION 'budget_exceeded' USING ERRCODE = 'MD402',
                DETAIL = json_build_object('budget_cents', r_agency.monthly_budget_cents,
                                           'spent_cents', v_spent)::text;
        END IF;

        SELECT l.first_name, l.last_name, l.email, l.phone_e164, l.timeline, l.is_owner,
               e.street, e.postal_code, cm.code AS commune_code, cm.name AS commune_name,
               ST_Y(e.location::geometry) AS lat, ST_X(e.location::geometry) AS lon,
               e.location_precision, e.property, e.candidates, e.matching_rules,
               l.rules AS intake_rules, l.consent_text_version, l.consented_at, l.score, l.grade
        INTO r_lead
        FROM lead l
        JOIN estimation e ON e.id = l.estimation_id
        JOIN commune cm ON cm.code = e.commune_code
        WHERE l.id = p_lead;

        -- The constraints are the second line: uq_purchase_once_per_agency,
        -- uq_purchase_one_exclusive, ck_offer_shared_cap, ck_offer_one_mode.
        IF v_mode = 'exclusive' THEN
            UPDATE offer SET exclusive_buyer = p_agency WHERE lead_id = p_lead;
        ELSE
            UPDATE offer SET shared_buyers = shared_buyers + 1 WHERE lead_id = p_lead;
        END IF;
        INSERT INTO purchase (id, lead_id, agency_id, mode, price_cents, created_at, bought_by,
                              bought_by_person, allocation)
        VALUES (v_purchase, p_lead, p_agency, v_mode, v_price, v_now, p_key, p_person,
                jsonb_build_object(
                    'at', v_now,
                    'agency_id', p_agency,
                    'rank', r_consent.rank,
                    'reach', r_consent.reach,
                    'distance_m', r_consent.distance_m::float8,
                    'candidates', r_lead.candidates,
                    'matching_rules', r_lead.matching_rules,
                    'intake_rules', r_lead.intake_rules,
                    'consent', jsonb_build_object('text_version', r_lead.consent_text_version,
                                                  'given_at', r_lead.consented_at),
                    'score', r_lead.score,
                    'grade', r_lead.grade,
                    'offer', jsonb_build_object('mode', v_mode,
                                                'exclusive_until', r_offer.exclusive_until,
                                                'expires_at', r_offer.expires_at,
                                                'shared_cap', r_offer.shared_cap,
                                                'shared_buyers_before', r_offer.shared_buyers),
                    'price', jsonb_build_object('grid_version', r_offer.price_grid_version,
                                                'factors', r_offer.price_factors)));
        INSERT INTO ledger_line (agency_id, purchase_id, kind, amount_cents, created_at)
        VALUES (p_agency, v_purchase, 'purchase', v_price, v_now);
        INSERT INTO audit_log (actor_key_id, actor_user_id, actor_role, agency_id, action,
                               subject_type, subject_id, details)
        VALUES (p_key, p_person, p_role, p_agency, 'contact.revealed', 'lead', p_lead::text,
                jsonb_build_object('purchase_id', v_purchase, 'mode', v_mode,
                                   'price_cents', v_price));
        INSERT INTO outbox (agency_id, channel, event, event_key, payload)
        SELECT p_agency, ch.channel, 'purchase.created', v_purchase::text,
               jsonb_build_object('event', 'purchase.created', 'purchase_id', v_purchase,
                                  'lead_id', p_lead, 'mode', v_mode, 'price_cents', v_price)
        FROM (VALUES ('email'), ('webhook')) AS ch(channel)
        WHERE ch.channel = 'email' OR r_agency.webhook
        ON CONFLICT ON CONSTRAINT uq_outbox_event DO NOTHING;

        v_answer := jsonb_build_object(
            'purchase_id', v_purchase,
            'lead_id', p_lead,
            'mode', v_mode,
            'price_cents', v_price,
            'purchased_at', v_now,
            'contact', jsonb_build_object('first_name', r_lead.first_name,
                                          'last_name', r_lead.last_name,
                                          'email', r_lead.email,
                                          'phone', r_lead.phone_e164),
            'address', jsonb_build_object('street', r_lead.street,
                                          'postal_code', r_lead.postal_code,
                                          'commune_code', r_lead.commune_code,
                                          'city', r_lead.commune_name,
                                          'lat', r_lead.lat,
                                          'lon', r_lead.lon,
                                          'precision', r_lead.location_precision),
            'project', jsonb_build_object('timeline', r_lead.timeline, 'is_owner', r_lead.is_owner),
            'property', r_lead.property);
        IF p_idempotency_key IS NOT NULL THEN
            -- The answer as stored is the answer given: replays send the same bytes.
            UPDATE idempotency_key SET status_code = 201, response = v_answer
            WHERE agency_id = p_agency AND key = p_idempotency_key;
        END IF;
        body := v_answer::text;
        replayed := false;
    END $$
"""


def upgrade() -> None:
    op.execute(PARIS_MONTH)
    op.create_table(
        "agency_month_spend",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_agency_month_spend_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "month", name=op.f("pk_agency_month_spend")),
    )
    # No purchase line may commit between the back-fill and the trigger (under traffic, it
    # would never be counted): writers wait until this migration commits.
    op.execute("LOCK TABLE ledger_line IN SHARE ROW EXCLUSIVE MODE")
    op.execute("""
        INSERT INTO agency_month_spend (agency_id, month, cents)
        SELECT agency_id, paris_month(created_at), sum(amount_cents)
        FROM ledger_line WHERE kind = 'purchase'
        GROUP BY agency_id, paris_month(created_at)
    """)
    op.execute(KEEP_MONTH_SPEND)
    op.execute("""
        CREATE TRIGGER ledger_line_month_spend
        AFTER INSERT OR UPDATE OR DELETE ON ledger_line
        FOR EACH ROW EXECUTE FUNCTION keep_agency_month_spend()
    """)
    op.execute("""
        CREATE TRIGGER ledger_line_month_spend_truncated AFTER TRUNCATE ON ledger_line
        FOR EACH STATEMENT EXECUTE FUNCTION keep_agency_month_spend()
    """)
    op.execute(BUY_LEAD)


def downgrade() -> None:
    op.execute("DROP FUNCTION buy_lead(uuid, uuid, text, uuid, uuid, text, bigint, text, text)")
    op.execute("DROP TRIGGER ledger_line_month_spend_truncated ON ledger_line")
    op.execute("DROP TRIGGER ledger_line_month_spend ON ledger_line")
    op.execute("DROP FUNCTION keep_agency_month_spend()")
    op.drop_table("agency_month_spend")
    op.execute("DROP FUNCTION paris_month(timestamptz)")
