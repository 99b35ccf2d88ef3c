"""working bought contacts: timeline, reminders, appointments, calendar feeds, speed to lead

Revision ID: 0022
Revises: 0021

An agency's people log what they do with a bought contact (call, e-mail, visit, note), set
reminders and appointments, subscribe to their appointments with a secret calendar link (stored
hashed), and receive one agenda digest a day. A purchase records its first call or e-mail (speed
to lead), the reminders sent while that was awaited, and the collaborator it is assigned to.
Purchases made before this revision count as already reminded: no flood of late reminders.
Create Date: 2026-12-02 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _ids() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
    ]


def upgrade() -> None:
    for column in ("first_contact_at", "buyer_reminded_at", "owner_reminded_at"):
        op.add_column("purchase", sa.Column(column, sa.DateTime(timezone=True)))
    op.add_column("purchase", sa.Column("assigned_to", sa.Uuid()))
    op.create_foreign_key(
        op.f("fk_purchase_assigned_to_agency_user"), "purchase", "agency_user",
        ["assigned_to"], ["id"], ondelete="SET NULL",
    )  # fmt: skip
    op.execute("UPDATE purchase SET buyer_reminded_at = created_at, owner_reminded_at = created_at")

    op.create_table(
        "contact_interaction",
        *_ids(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.Uuid()),
        sa.Column("key_id", sa.Uuid()),
        sa.CheckConstraint("kind IN ('call', 'email', 'visit', 'note', 'assigned')", name=op.f("ck_contact_interaction_kind")),
        sa.CheckConstraint("length(body) <= 5000", name=op.f("ck_contact_interaction_body_length")),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchase.id"], name=op.f("fk_contact_interaction_purchase_id_purchase"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["agency_user.id"], name=op.f("fk_contact_interaction_person_id_agency_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"], name=op.f("fk_contact_interaction_key_id_api_key"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_interaction")),
    )  # fmt: skip
    op.create_index(
        "ix_contact_interaction_purchase", "contact_interaction", ["purchase_id", "occurred_at"]
    )
    op.create_index(
        "ix_contact_interaction_person", "contact_interaction", ["person_id", "occurred_at"]
    )

    op.create_table(
        "contact_reminder",
        *_ids(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(note) BETWEEN 1 AND 500", name=op.f("ck_contact_reminder_note_length")),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchase.id"], name=op.f("fk_contact_reminder_purchase_id_purchase"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["agency_user.id"], name=op.f("fk_contact_reminder_person_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_reminder")),
    )  # fmt: skip
    op.create_index("ix_contact_reminder_person_due", "contact_reminder", ["person_id", "due_at"])
    op.create_index("ix_contact_reminder_purchase", "contact_reminder", ["purchase_id"])

    op.create_table(
        "appointment",
        *_ids(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_appointment_ends_after_start")),
        sa.CheckConstraint("length(place) <= 300 AND length(note) <= 1000", name=op.f("ck_appointment_lengths")),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchase.id"], name=op.f("fk_appointment_purchase_id_purchase"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["agency_user.id"], name=op.f("fk_appointment_person_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment")),
    )  # fmt: skip
    op.create_index("ix_appointment_person_starts", "appointment", ["person_id", "starts_at"])
    op.create_index("ix_appointment_purchase", "appointment", ["purchase_id"])

    op.create_table(
        "calendar_feed",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["agency_user.id"], name=op.f("fk_calendar_feed_person_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )  # fmt: skip

    op.create_table(
        "agenda_digest",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["agency_user.id"], name=op.f("fk_agenda_digest_person_id_agency_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", "day", name=op.f("pk_agenda_digest")),
    )  # fmt: skip
    op.execute("""
        INSERT INTO setting (key, value)
        VALUES ('speed_to_lead_reminder_minutes', '30'), ('speed_to_lead_owner_hours', '24')
        ON CONFLICT (key) DO NOTHING
    """)


def downgrade() -> None:
    op.execute("DELETE FROM setting WHERE key LIKE 'speed_to_lead_%'")
    for table in ("agenda_digest", "calendar_feed", "appointment", "contact_reminder",
                  "contact_interaction"):  # fmt: skip
        op.drop_table(table)
    op.drop_constraint(op.f("fk_purchase_assigned_to_agency_user"), "purchase", "foreignkey")
    for column in ("assigned_to", "owner_reminded_at", "buyer_reminded_at", "first_contact_at"):
        op.drop_column("purchase", column)
