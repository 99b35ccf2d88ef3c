"""leads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Step 2 of the estimation form: the lead, the consent per named agency with the wording's
version, and the duplicate rule as exclusion constraints (btree_gist for `=` in a GiST index).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The intake rules of docs/rules.md §4 as settings.
SETTINGS = {
    "bot_min_seconds": 3,
    "max_leads_per_ip_per_hour": 10,
    "max_leads_per_phone_per_day": 3,
    "duplicate_window_days": 30,
    "grade_a_min_score": 70,
    "grade_b_min_score": 40,
}

CONSENT_TEXTS = {
    "consent-2026-11-fr": (
        "fr",
        "J'accepte que les agences immobilières que j'ai cochées ci-dessous, et elles seules, "
        "me contactent par téléphone ou par e-mail au sujet de la vente de mon bien. Mandat leur "
        "transmet mes coordonnées et mon projet à cette seule fin. Je peux retirer mon accord "
        "pour chacune d'elles à tout moment avec le lien reçu par e-mail.",
    ),
    "consent-2026-11-en": (
        "en",
        "I agree that the estate agencies I ticked below, and only they, may contact me by phone "
        "or e-mail about selling my property. Mandat passes them my contact details and project "
        "for that purpose only. I can withdraw my agreement for each of them at any time with "
        "the link I receive by e-mail.",
    ),
}

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "consent_text",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_consent_text")),
    )
    op.create_table(
        "lead",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("estimation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column(
            "email_key",
            sa.Text(),
            sa.Computed(
                "lower(email)",
            ),
            nullable=True,
        ),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column("timeline", sa.String(length=16), nullable=False),
        sa.Column("is_owner", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("score_reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("quarantine_reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("dedupe_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_text_version", sa.Text(), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("commune_code"), "="),
            (sa.column("email_key"), "="),
            (sa.text("tstzrange(created_at, dedupe_until)"), "&&"),
            where=sa.text("status = 'qualified'"),
            using="gist",
            name="lead_one_original_per_email",
        ),
        postgresql.ExcludeConstraint(
            (sa.column("commune_code"), "="),
            (sa.column("phone_e164"), "="),
            (sa.text("tstzrange(created_at, dedupe_until)"), "&&"),
            where=sa.text("status = 'qualified'"),
            using="gist",
            name="lead_one_original_per_phone",
        ),
        sa.CheckConstraint(
            "(status = 'duplicate') = (duplicate_of IS NOT NULL)", name=op.f("ck_lead_duplicate")
        ),
        sa.CheckConstraint("grade IN ('A', 'B', 'C')", name=op.f("ck_lead_grade")),
        sa.CheckConstraint(
            "status IN ('qualified', 'quarantined', 'duplicate')", name=op.f("ck_lead_status")
        ),
        sa.CheckConstraint(
            "timeline IN ('asap', 'lt_3_months', '3_6_months', 'gt_6_months', 'curious')",
            name=op.f("ck_lead_timeline"),
        ),
        sa.CheckConstraint("dedupe_until > created_at", name=op.f("ck_lead_dedupe_window")),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_lead_score")),
        sa.ForeignKeyConstraint(
            ["commune_code"], ["commune.code"], name=op.f("fk_lead_commune_code_commune")
        ),
        sa.ForeignKeyConstraint(
            ["consent_text_version"],
            ["consent_text.version"],
            name=op.f("fk_lead_consent_text_version_consent_text"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["lead.id"], name=op.f("fk_lead_duplicate_of_lead")
        ),
        sa.ForeignKeyConstraint(
            ["estimation_id"], ["estimation.id"], name=op.f("fk_lead_estimation_id_estimation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
        sa.UniqueConstraint("estimation_id", name=op.f("uq_lead_estimation_id")),
    )
    op.create_index(
        "ix_lead_client_ip_created_at", "lead", ["client_ip", "created_at"], unique=False
    )
    op.create_index(
        "ix_lead_email_key_created_at", "lead", ["email_key", "created_at"], unique=False
    )
    op.create_index(
        "ix_lead_phone_e164_created_at", "lead", ["phone_e164", "created_at"], unique=False
    )
    op.create_table(
        "lead_consent",
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("agency_name", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Numeric(precision=9, scale=1), nullable=False),
        sa.Column("reach", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_lead_consent_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_lead_consent_lead_id_lead"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("lead_id", "agency_id", name=op.f("pk_lead_consent")),
    )
    op.create_index("ix_lead_consent_agency_id", "lead_consent", ["agency_id"], unique=False)
    consent_text = sa.table(
        "consent_text", sa.column("version", sa.Text), sa.column("lang"), sa.column("body")
    )
    op.bulk_insert(
        consent_text,
        [{"version": v, "lang": lang, "body": body} for v, (lang, body) in CONSENT_TEXTS.items()],
    )
    setting = sa.table("setting", sa.column("key", sa.Text), sa.column("value", postgresql.JSONB))
    op.bulk_insert(setting, [{"key": k, "value": v} for k, v in SETTINGS.items()])


def downgrade() -> None:
    op.execute(f"DELETE FROM setting WHERE key IN {tuple(SETTINGS)!r}")
    op.drop_table("lead_consent")
    op.drop_index("ix_lead_phone_e164_created_at", table_name="lead")
    op.drop_index("ix_lead_email_key_created_at", table_name="lead")
    op.drop_index("ix_lead_client_ip_created_at", table_name="lead")
    op.drop_table("lead")
    op.drop_table("consent_text")
    op.execute("DROP EXTENSION IF EXISTS btree_gist")
