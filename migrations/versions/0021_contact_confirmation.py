"""the homeowner confirms or disowns the contact; revocable private links

Revision ID: 0021
Revises: 0019

The confirmation e-mail's two links: "c'est bien moi" stamps the lead *contact confirmed*, "ce
n'était pas moi" withdraws it and refunds every buyer in full (a refund request of reason
`not_me`, decided by the rule `auto:not_me`: at most one per purchase, besides the agency's
own request). The homeowner's links carry the lead's token generation: bumping it revokes them.
Create Date: 2026-12-02 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

AGENCY_REASONS = (
    "'unreachable', 'wrong_number', 'not_owner', 'fake', 'already_sold_or_under_mandate', "
    "'duplicate', 'out_of_zone', 'other'"
)


def upgrade() -> None:
    op.add_column(
        "lead",
        sa.Column("token_generation", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("lead", sa.Column("contact_confirmed_at", sa.DateTime(timezone=True)))
    op.add_column("lead", sa.Column("disowned_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        op.f("ck_lead_confirmed_or_disowned"),
        "lead",
        "contact_confirmed_at IS NULL OR disowned_at IS NULL",
    )
    op.drop_constraint(op.f("ck_refund_request_reason"), "refund_request", type_="check")
    op.create_check_constraint(
        op.f("ck_refund_request_reason"),
        "refund_request",
        f"reason IN ({AGENCY_REASONS}, 'not_me')",
    )
    op.drop_constraint("uq_refund_request_once_per_purchase", "refund_request", type_="unique")
    op.create_index(
        "uq_refund_request_once_per_purchase",
        "refund_request",
        ["purchase_id"],
        unique=True,
        postgresql_where=sa.text("reason <> 'not_me'"),
    )
    op.create_index(
        "uq_refund_request_not_me_once_per_purchase",
        "refund_request",
        ["purchase_id"],
        unique=True,
        postgresql_where=sa.text("reason = 'not_me'"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM refund_request WHERE reason = 'not_me'")
    op.drop_index("uq_refund_request_not_me_once_per_purchase", "refund_request")
    op.drop_index("uq_refund_request_once_per_purchase", "refund_request")
    op.create_unique_constraint(
        "uq_refund_request_once_per_purchase", "refund_request", ["purchase_id"]
    )
    op.drop_constraint(op.f("ck_refund_request_reason"), "refund_request", type_="check")
    op.create_check_constraint(
        op.f("ck_refund_request_reason"), "refund_request", f"reason IN ({AGENCY_REASONS})"
    )
    op.drop_constraint(op.f("ck_lead_confirmed_or_disowned"), "lead", type_="check")
    op.drop_column("lead", "disowned_at")
    op.drop_column("lead", "contact_confirmed_at")
    op.drop_column("lead", "token_generation")
