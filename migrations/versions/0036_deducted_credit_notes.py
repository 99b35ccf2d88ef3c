"""a credit note the invoice's charge was net of is settled by it, never refunded again

Revision ID: 0036
Revises: 0030

A credit note issued while its invoice was unpaid is deducted from the invoice's charge (the
charge asks the total less the credit notes), but it stayed `pending`: once the invoice was
paid, the billing run then paid it back through Stripe too, so the agency was credited twice.
It is now `deducted` when the invoice is paid (engine.billing.payments). Credit notes of invoices
already paid are settled the same way here: those the succeeded charge was net of (the invoice's
total less the charged amount, oldest credit notes first) become `deducted`.
Create Date: 2026-12-02 22:40:00.000000
"""

from alembic import op

revision = "0036"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("ck_credit_note_refund_status", "credit_note")
    op.create_check_constraint(
        op.f("ck_credit_note_refund_status"),
        "credit_note",
        "refund_status IN ('pending', 'refunded', 'failed', 'deducted')",
    )
    op.execute("""
        UPDATE credit_note c SET refund_status = 'deducted'
        FROM (SELECT c2.id,
                     sum(c2.total_ttc_cents) OVER (PARTITION BY c2.invoice_id
                                                   ORDER BY c2.issued_at, c2.number) AS running,
                     i.total_ttc_cents - coalesce((SELECT p.amount_cents FROM payment_attempt p
                                                   WHERE p.invoice_id = i.id
                                                     AND p.status = 'succeeded'), 0) AS deducted
              FROM credit_note c2 JOIN invoice i ON i.id = c2.invoice_id
              WHERE i.status = 'paid') n
        WHERE c.id = n.id AND c.refund_status = 'pending' AND n.running <= n.deducted
    """)


def downgrade() -> None:
    op.execute("UPDATE credit_note SET refund_status = 'pending' WHERE refund_status = 'deducted'")
    op.drop_constraint("ck_credit_note_refund_status", "credit_note")
    op.create_check_constraint(
        op.f("ck_credit_note_refund_status"),
        "credit_note",
        "refund_status IN ('pending', 'refunded', 'failed')",
    )
