"""the purchase reads its caller's key itself: revoked or expired, and its role, in its own call

Revision ID: 0039
Revises: 0038

Issue 16. The purchase route no longer reads the API key's row in a transaction of its own
before calling `buy_lead`: a key this process has verified (the secret checked once, remembered
by the digest of the whole key, engine/accounts/authentication.py) goes straight to the call, which reads
the row under the purchase's own transaction. So the function now refuses an expired key as well
as a revoked one (401 `invalid_api_key`), and still reads the key's role now (403
`forbidden_role`), so revocation, expiry and role changes hold at the key's next purchase.

Two refusals cost less: an offer no longer on sale (a lost race) is answered without locking the
agency's row (nothing is bought: the refusal is the same whatever the agency's lock would have
awaited), and the month's spend is read only for an agency with a budget, after the agency's
lock as before. Downgrade restores the function of 0028.
Create Date: 2026-12-02 23:00:00.000000
"""

from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

# The refusals, in the order of `engine.sales.rules.refusal`: keep both in step.
BUY_LEAD = """
    CREATE OR REPLACE FUNCTION buy_lead(
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
        -- The caller, read now: a key revoked or expired a moment ago buys nothing, and its
        -- role is the one it has now (the server passes a key it verified without reading it).
        IF p_key IS NOT NULL THEN
            SELECT role, agency_id INTO r_key FROM api_key
            WHERE id = p_key AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());
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
        -- on it); its spend, when it has a budget, is read in a later statement, after the wait.
        -- An offer no longer on sale (a lost race) is refused whatever the agency: its row is
        -- read without a lock (nothing is bought, so nothing is to be serialised with it).
        IF v_phase IN ('offered_exclusive', 'offered_shared') THEN
            SELECT status, paused, monthly_budget_cents, webhook_url IS NOT NULL AS webhook
            INTO r_agency FROM agency WHERE id = p_agency FOR NO KEY UPDATE;
        ELSE
            SELECT status, paused, monthly_budget_cents, webhook_url IS NOT NULL AS webhook
            INTO r_agency FROM agency WHERE id = p_agency;
        END IF;
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
        IF r_agency.monthly_budget_cents IS NOT NULL THEN
            SELECT coalesce(sum(cents), 0) INTO v_spent FROM agency_month_spend
            WHERE agency_id = p_agency AND month >= paris_month(v_now);
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

# The function as 0028 made it.
PREVIOUS = """
    CREATE OR REPLACE FUNCTION buy_lead(
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
    op.execute(BUY_LEAD)


def downgrade() -> None:
    op.execute(PREVIOUS)
