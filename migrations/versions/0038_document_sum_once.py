"""a document's lines checked against its total once per document, not once per line

Revision ID: 0038
Revises: 0037

Issue 16 item 6. Since 0012 every inserted document line queued a check run at commit that
summed all its document's lines: a document of n lines was summed n times (O(n²) rows read and
one trigger call per line), most of the billing run's documents phase. The same rules now cost
one check per document and one per statement of lines:

- an invoice or credit note inserted or updated by a transaction has its lines summed once at
  that transaction's commit, against its total (a document without lines is refused too, unless
  its total is 0); a document updated by a transaction that also added lines to it, while it
  already had lines from an earlier transaction, is refused: lines are added to a document only
  by the transaction that issues it;
- a statement adding lines to a document not written by its own transaction (issued earlier)
  touches that document (a change of nothing), so that the document's check above runs at
  commit and refuses the late lines, as 0012's did.

"Written by this transaction" is the row's xmin being this transaction or one of its
subtransactions (`pg_xact_status` says 'in progress' only for those: the rows of another
transaction in progress are not visible). Issued documents stay immutable (0012's triggers).
Create Date: 2026-12-02 23:45:00.000000
"""

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

DOCUMENTS = ("invoice", "credit_note")


def upgrade() -> None:
    op.execute("DROP TRIGGER document_line_sum ON document_line")
    op.execute("DROP FUNCTION check_document_lines()")
    # The 32-bit xid of a row's xmin widened to this epoch's xid8 (the previous epoch's when it
    # is above the current one), then asked whether it is this transaction's.
    op.execute("""
        CREATE FUNCTION written_by_this_transaction(x xid) RETURNS boolean
        LANGUAGE sql STABLE AS $$
            SELECT coalesce(pg_xact_status(CAST(CAST(
                (pg_current_xact_id()::text::bigint >> 32 << 32) + x::text::bigint
                - CASE WHEN x::text::bigint > (pg_current_xact_id()::text::bigint & 4294967295)
                       THEN 4294967296 ELSE 0 END AS text) AS xid8)) = 'in progress', false)
        $$
    """)
    op.execute("""
        CREATE FUNCTION check_document_total() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            lines bigint;
            late boolean := false;
        BEGIN
            -- Inserted: issued by this transaction, as all its lines. Updated: issued before,
            -- or by this transaction and then changed (its status).
            IF TG_TABLE_NAME = 'invoice' THEN
                SELECT coalesce(sum(amount_ht_cents), 0) INTO lines FROM document_line
                WHERE invoice_id = NEW.id;
                IF TG_OP = 'UPDATE' THEN
                    SELECT bool_or(written_by_this_transaction(xmin))
                           AND NOT bool_and(written_by_this_transaction(xmin))
                    INTO late FROM document_line WHERE invoice_id = NEW.id;
                END IF;
            ELSE
                SELECT coalesce(sum(amount_ht_cents), 0) INTO lines FROM document_line
                WHERE credit_note_id = NEW.id;
                IF TG_OP = 'UPDATE' THEN
                    SELECT bool_or(written_by_this_transaction(xmin))
                           AND NOT bool_and(written_by_this_transaction(xmin))
                    INTO late FROM document_line WHERE credit_note_id = NEW.id;
                END IF;
            END IF;
            IF lines IS DISTINCT FROM NEW.total_ht_cents THEN
                RAISE EXCEPTION 'the lines of a document add up to % cents, its total is %',
                    lines, NEW.total_ht_cents USING ERRCODE = 'check_violation';
            END IF;
            IF coalesce(late, false) THEN
                RAISE EXCEPTION '% % is issued: its lines add up to its total, none can be added',
                    replace(TG_TABLE_NAME, '_', ' '), NEW.number
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
    """)
    for table in DOCUMENTS:
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_lines_sum AFTER INSERT OR UPDATE ON {table}
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_document_total()
        """)
    op.execute("""
        CREATE FUNCTION touch_earlier_documents() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE invoice i SET id = i.id
            WHERE i.id IN (SELECT DISTINCT invoice_id FROM added WHERE invoice_id IS NOT NULL)
              AND NOT written_by_this_transaction(i.xmin);
            UPDATE credit_note c SET id = c.id
            WHERE c.id IN (SELECT DISTINCT credit_note_id FROM added
                           WHERE credit_note_id IS NOT NULL)
              AND NOT written_by_this_transaction(c.xmin);
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER document_line_added AFTER INSERT ON document_line
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT
        EXECUTE FUNCTION touch_earlier_documents()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER document_line_added ON document_line")
    op.execute("DROP FUNCTION touch_earlier_documents()")
    for table in DOCUMENTS:
        op.execute(f"DROP TRIGGER {table}_lines_sum ON {table}")
    op.execute("DROP FUNCTION check_document_total()")
    op.execute("DROP FUNCTION written_by_this_transaction(xid)")
    # 0012's check, as it was.
    op.execute("""
        CREATE FUNCTION check_document_lines() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            lines bigint;
            total bigint;
        BEGIN
            IF NEW.invoice_id IS NOT NULL THEN
                SELECT coalesce(sum(amount_ht_cents), 0) INTO lines FROM document_line
                WHERE invoice_id = NEW.invoice_id;
                SELECT total_ht_cents INTO total FROM invoice WHERE id = NEW.invoice_id;
            ELSE
                SELECT coalesce(sum(amount_ht_cents), 0) INTO lines FROM document_line
                WHERE credit_note_id = NEW.credit_note_id;
                SELECT total_ht_cents INTO total FROM credit_note WHERE id = NEW.credit_note_id;
            END IF;
            IF lines IS DISTINCT FROM total THEN
                RAISE EXCEPTION 'the lines of a document add up to % cents, its total is %',
                    lines, total USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER document_line_sum AFTER INSERT ON document_line
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_document_lines()
    """)
