"""a document's lines checked against its total once per document, not once per line

Revision ID: 0038
Revises: 0032

Issue 16 item 6. Since 0012 every inserted document line queued a check run at commit that
summed all its document's lines: a document of n lines was summed n times (O(n²) rows read and
one trigger call per line: a tenth of the run's documents phase at 10 lines a document, growing
as n²). The same rules now cost one check per document and one per statement of lines:

- an invoice or credit note inserted or updated by a transaction has its lines summed once at
  that transaction's commit, against its total (a document without lines is refused too, unless
  its total is 0); a document updated by a transaction that also added lines to it, while it
  already had lines from an earlier transaction, is refused: lines are added to a document only
  by the transaction that issues it;
- a statement adding lines to a document not written by its own transaction (issued earlier)
  touches that document (a change of nothing), so that the document's check above runs at
  commit and refuses the late lines, as 0012's did.

The lines' other per-row cost is their foreign keys: the ledger line and the purchase are now
one composite key to ledger_line (id, purchase_id), so a line is checked once against both (and
its purchase is its ledger line's, which two keys did not say); the indexes by document hold
only the lines of that kind of document.

"Written by this transaction" is the row's xmin being this transaction or one of its
subtransactions (`pg_xact_status` says 'in progress' only for those: the rows of another
transaction in progress are not visible). Issued documents stay immutable (0012's triggers).
Create Date: 2026-12-02 23:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0032"
branch_labels = None
depends_on = None

DOCUMENTS = ("invoice", "credit_note")
LEDGER_FK = "fk_document_line_ledger_line_id_ledger_line"
PURCHASE_FK = "fk_document_line_purchase_id_purchase"


def upgrade() -> None:
    # A line's ledger line and purchase checked by one foreign key (that purchase is the ledger
    # line's), not two; its document's index holds only the lines of that kind of document.
    op.create_unique_constraint(
        "uq_ledger_line_id_purchase_id", "ledger_line", ["id", "purchase_id"]
    )
    op.drop_constraint(PURCHASE_FK, "document_line", type_="foreignkey")
    op.drop_constraint(LEDGER_FK, "document_line", type_="foreignkey")
    op.create_foreign_key(
        LEDGER_FK, "document_line", "ledger_line", ["ledger_line_id", "purchase_id"],
        ["id", "purchase_id"],
    )  # fmt: skip
    for column, name in (("invoice_id", "invoice"), ("credit_note_id", "credit_note")):
        op.drop_index(f"ix_document_line_{name}", table_name="document_line")
        op.create_index(
            f"ix_document_line_{name}", "document_line", [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )  # fmt: skip
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
    for column, name in (("invoice_id", "invoice"), ("credit_note_id", "credit_note")):
        op.drop_index(f"ix_document_line_{name}", table_name="document_line")
        op.create_index(f"ix_document_line_{name}", "document_line", [column])
    op.drop_constraint(LEDGER_FK, "document_line", type_="foreignkey")
    op.create_foreign_key(LEDGER_FK, "document_line", "ledger_line", ["ledger_line_id"], ["id"])
    op.create_foreign_key(PURCHASE_FK, "document_line", "purchase", ["purchase_id"], ["id"])
    op.drop_constraint("uq_ledger_line_id_purchase_id", "ledger_line", type_="unique")
