"""a row written by a transaction that began after this one is read as such, not as one from the
previous epoch

Revision ID: 0042
Revises: 0041

`written_by_this_transaction(xmin)` (0038) widens a row's 32-bit xmin to a full transaction id
before asking `pg_xact_status` whether it is this transaction's. It took an xmin above this
transaction's own for one of the previous epoch, so it subtracted 2^32 — but a transaction
that began after this one and has committed writes rows this one sees (READ COMMITTED), with
an xmin above its own, and so do this transaction's subtransactions. Read as the previous
epoch's, such an id came out negative in the first epoch and `pg_xact_status` refused it
("transaction ID … is in the future"). Two billing batches at once made it happen: a batch's
lines touch their invoices through `touch_earlier_documents`, whose scan of `invoice` may call
the function on the invoices another batch has just committed.

The xmin is now read as the full id nearest to this transaction's, on either side (within
2^31, as PostgreSQL itself reads xids): a later transaction's id is above this one's, an
earlier epoch's far below. Downgrade restores 0038's function.
Create Date: 2026-12-03 13:00:00.000000
"""

from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ours + the signed 32-bit distance from ours to x: ((x − ours + 2^31) mod 2^32) − 2^31,
    # with 2^32 added first so that the remainder is never negative.
    op.execute("""
        CREATE OR REPLACE FUNCTION written_by_this_transaction(x xid) RETURNS boolean
        LANGUAGE sql STABLE AS $$
            SELECT coalesce(pg_xact_status(CAST(CAST(
                pg_current_xact_id()::text::bigint
                + (x::text::bigint - (pg_current_xact_id()::text::bigint & 4294967295)
                   + 6442450944) % 4294967296
                - 2147483648 AS text) AS xid8)) = 'in progress', false)
        $$
    """)


def downgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION written_by_this_transaction(x xid) RETURNS boolean
        LANGUAGE sql STABLE AS $$
            SELECT coalesce(pg_xact_status(CAST(CAST(
                (pg_current_xact_id()::text::bigint >> 32 << 32) + x::text::bigint
                - CASE WHEN x::text::bigint > (pg_current_xact_id()::text::bigint & 4294967295)
                       THEN 4294967296 ELSE 0 END AS text) AS xid8)) = 'in progress', false)
        $$
    """)
