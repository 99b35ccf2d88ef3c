"""facturx

Revision ID: 0012
Revises: 0011

French e-invoicing (docs/rules.md §7, issue 14): the agency's registered address and e-invoicing
address; each invoice and credit note's Factur-X (CII XML and PDF/A-3b, stored once with the
PDF's SHA-256); what was handed to the approved platform and the lifecycle statuses it reported.
Issued documents become immutable in the database: their identity and totals never change,
their lines are never changed or deleted, and lines added later cannot make the total wrong.
Create Date: 2026-12-02 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LIFECYCLE = (
    "deposited", "issued", "received", "made_available", "in_hand", "approved",
    "partially_approved", "disputed", "suspended", "completed", "refused", "rejected",
    "payment_sent", "paid",
)  # fmt: skip
APPEND_ONLY = ("einvoice", "einvoice_status", "document_line")
# The structured seller address the Factur-X needs, added to the demonstration identity.
DEMO_SELLER = {
    "siren": "900000001",
    "street": "10 rue de l'Exemple",
    "postcode": "75002",
    "city": "Paris",
    "country_code": "FR",
}
INVOICE_FIXED = (
    "agency_id, period, number, issued_at, due_at, seller, buyer, vat_rate_bp, total_ht_cents,"
    " vat_cents, total_ttc_cents, run_id"
)
CREDIT_NOTE_FIXED = (
    "agency_id, invoice_id, number, issued_at, seller, buyer, vat_rate_bp, total_ht_cents,"
    " vat_cents, total_ttc_cents"
)


def _row(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def upgrade() -> None:
    for column in ("registered_street", "registered_postcode", "registered_city"):
        op.add_column("agency", sa.Column(column, sa.Text()))
    op.add_column("agency", sa.Column("einvoicing_address", sa.Text()))
    op.create_check_constraint(
        op.f("ck_agency_registered_postcode"), "agency", "registered_postcode ~ '^[0-9]{5}$'"
    )
    op.create_check_constraint(
        op.f("ck_agency_registered_address_lines"), "agency",
        "length(btrim(registered_street)) BETWEEN 1 AND 200"
        " AND length(btrim(registered_city)) BETWEEN 1 AND 100",
    )  # fmt: skip
    # A directory address (scheme 0225): the SIREN, optionally with a suffix.
    op.create_check_constraint(
        op.f("ck_agency_einvoicing_address"), "agency",
        "einvoicing_address ~ '^[0-9]{9}(_[A-Za-z0-9.+-]{1,100})?$'",
    )  # fmt: skip

    op.create_table(
        "einvoice",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("invoice_id", sa.Uuid()),
        sa.Column("credit_note_id", sa.Uuid()),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("vat_category", sa.String(2), nullable=False),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"], name=op.f("fk_einvoice_invoice_id_invoice")),
        sa.ForeignKeyConstraint(["credit_note_id"], ["credit_note.id"], name=op.f("fk_einvoice_credit_note_id_credit_note")),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_einvoice_agency_id_agency")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_einvoice_invoice_id")),
        sa.UniqueConstraint("credit_note_id", name=op.f("uq_einvoice_credit_note_id")),
        sa.CheckConstraint(
            "(invoice_id IS NULL) <> (credit_note_id IS NULL)", name=op.f("ck_einvoice_one_document")
        ),
        # The hash is of the stored bytes, whoever wrote them.
        sa.CheckConstraint(
            "pdf_sha256 = encode(sha256(pdf), 'hex')", name=op.f("ck_einvoice_pdf_sha256")
        ),
        sa.CheckConstraint("vat_category IN ('S', 'O')", name=op.f("ck_einvoice_vat_category")),
    )  # fmt: skip
    op.create_index("ix_einvoice_created_at", "einvoice", ["created_at"])
    op.create_table(
        "einvoice_transmission",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("einvoice_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column(
            "transmitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice_transmission")),
        sa.ForeignKeyConstraint(["einvoice_id"], ["einvoice.id"], name=op.f("fk_einvoice_transmission_einvoice_id_einvoice")),
        sa.UniqueConstraint("einvoice_id", "platform", name=op.f("uq_einvoice_transmission_einvoice_id_platform")),
    )  # fmt: skip
    op.create_table(
        "einvoice_status",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("einvoice_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice_status")),
        sa.ForeignKeyConstraint(["einvoice_id"], ["einvoice.id"], name=op.f("fk_einvoice_status_einvoice_id_einvoice")),
        sa.UniqueConstraint(
            "einvoice_id", "platform", "status", "reported_at", name=op.f("uq_einvoice_status_einvoice_id_platform_status_reported_at")
        ),
        sa.CheckConstraint(f"status IN {LIFECYCLE!r}", name=op.f("ck_einvoice_status_status")),
    )  # fmt: skip

    # An issued document's identity and totals never change; its status and payment may.
    for table, fixed in (("invoice", INVOICE_FIXED), ("credit_note", CREDIT_NOTE_FIXED)):
        op.execute(f"""
            CREATE FUNCTION refuse_issued_{table}_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR ({_row(fixed, "NEW")})
                                       IS DISTINCT FROM ({_row(fixed, "OLD")}) THEN
                    RAISE EXCEPTION '% % is issued: it cannot be changed',
                        replace(TG_TABLE_NAME, '_', ' '), OLD.number
                        USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END $$
        """)
    for table in ("invoice", "credit_note"):
        op.execute(
            f"CREATE TRIGGER {table}_issued BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION refuse_issued_{table}_change()"
        )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
    # Checked at commit: a document's lines add up to its total HT. A line added to an issued
    # document in a later transaction (its total can no longer change) is refused.
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
    op.execute(
        sa.text(
            "UPDATE setting SET value = value || CAST(:extra AS jsonb)"
            " WHERE key = 'seller_identity' AND NOT value ? 'siren'"
            " AND value->>'address' = '10 rue de l''Exemple, 75002 Paris'"
        ).bindparams(sa.bindparam("extra", type_=postgresql.JSONB), extra=DEMO_SELLER)
    )
    op.execute(
        "INSERT INTO setting (key, value) VALUES ('vat_on_debits', 'false')"
        " ON CONFLICT (key) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM setting WHERE key = 'vat_on_debits'")
    op.execute("DROP TRIGGER document_line_sum ON document_line")
    op.execute("DROP FUNCTION check_document_lines()")
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    for table in ("invoice", "credit_note"):
        op.execute(f"DROP TRIGGER {table}_issued ON {table}")
        op.execute(f"DROP FUNCTION refuse_issued_{table}_change()")
    op.drop_table("einvoice_status")
    op.drop_table("einvoice_transmission")
    op.drop_table("einvoice")
    for name in ("einvoicing_address", "registered_address_lines", "registered_postcode"):
        op.drop_constraint(op.f(f"ck_agency_{name}"), "agency", type_="check")
    for column in ("einvoicing_address", "registered_city", "registered_postcode",
                   "registered_street"):  # fmt: skip
        op.drop_column("agency", column)
