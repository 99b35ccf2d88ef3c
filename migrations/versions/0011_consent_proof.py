"""consent proof: how each box was ticked, and where the form was embedded

Revision ID: 0011
Revises: 0010

Until now the form showed every agency's box ticked, so the record could not tell a tick from a
box left ticked, and a pre-ticked box is not consent (CJEU C-673/17 Planet49). From now on each
consented agency records how the person ticked it (`box`: its own box; `all`: the explicit "all
agencies" control; `declared`: an API client that did not say), and the lead records the origin
of the page that embedded the form.

Consents given before this revision are marked `preticked`: they came from boxes ticked in
advance. The offers of those leads that are still open are withdrawn, so that no lead is sold
on a consent that does not hold; what agencies already bought stays theirs.
Create Date: 2026-12-02 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lead", sa.Column("consent_origin", sa.Text()))
    op.add_column(
        "lead_consent",
        sa.Column("ticked_via", sa.String(16), nullable=False, server_default="preticked"),
    )
    op.alter_column("lead_consent", "ticked_via", server_default=None)
    op.create_check_constraint(
        op.f("ck_lead_consent_ticked_via"),
        "lead_consent",
        "ticked_via IN ('box', 'all', 'declared', 'preticked')",
    )
    op.execute("""
        UPDATE offer SET withdrawn_at = clock_timestamp()
        WHERE withdrawn_at IS NULL AND expires_at > clock_timestamp()
          AND lead_id IN (SELECT lead_id FROM lead_consent WHERE ticked_via = 'preticked')
    """)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_lead_consent_ticked_via"), "lead_consent", type_="check")
    op.drop_column("lead_consent", "ticked_via")
    op.drop_column("lead", "consent_origin")
