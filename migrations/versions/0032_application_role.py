"""the application's own role: it reads and writes rows, nothing more

Revision ID: 0032
Revises: 0037

`mandat serve` and `mandat scheduler` connected as the role that owns the schema (locally, the
cluster's superuser), so an SQL injection or a leaked DATABASE_URL could change the schema, read
any file or run a program on the database host (`COPY … TO PROGRAM`). They now log in as
`mandat_app`: it reads and writes the rows of Mandat's tables, uses their sequences and
functions, and nothing else — no DDL, no TRUNCATE, no COPY to or from the server's files, and
no UPDATE or DELETE on the two append-only tables, `audit_log` and `ledger_line` (their
triggers refused it already; now the role has no right to try); `alembic_version` it only
reads. The schema's owner keeps running the migrations and the bulk loads (docs/operations.md
"Database roles").

The scheduler logs in as `mandat_app` too: it writes the same tables as the server (billing,
notifications, retention purges of keys, outbox, estimations and rate buckets, which the API's
erasure deletes as well) and neither updates nor deletes the audit log or the ledger, so a role
of its own would hold exactly the same rights.

The role is created NOLOGIN when it does not exist yet: the operator gives it a login and a
password (`ALTER ROLE mandat_app LOGIN PASSWORD '…'`), or creates it beforehand, LOGIN, when the
owner may not create roles (a managed PostgreSQL's application owner often cannot). Roles belong
to the whole cluster, so the downgrade takes back this database's grants and leaves the role.

Later migrations' tables, sequences and functions are granted as they are created (ALTER DEFAULT
PRIVILEGES for the owner who runs the migrations). `analyze_documents()` runs as the owner: the
billing run refreshes the statistics of the document tables, which only their owner may.
Create Date: 2026-12-02 22:00:00.000000
"""

from alembic import op

revision = "0032"
down_revision = "0037"
branch_labels = None
depends_on = None

APP = "mandat_app"
APPEND_ONLY = ("audit_log", "ledger_line")

CREATE_ROLE = f"""
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP}') THEN
            CREATE ROLE {APP} NOLOGIN;
        END IF;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database of this cluster created it meanwhile
        WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the role {APP} does not exist and % may not create it', current_user
                USING HINT = 'as an administrator: CREATE ROLE {APP} LOGIN PASSWORD ''…'', '
                             'then migrate again (docs/operations.md "Database roles")';
    END $$
"""

# Our own tables, views, sequences and functions, never the extensions' (PostGIS's thousands of
# functions, its spatial_ref_sys): `{grant} … {to}` is GRANT … TO or REVOKE … FROM.
OUR_OBJECTS = """
    DO $$
    DECLARE
        object record;
    BEGIN
        EXECUTE format('{grant} CONNECT, TEMPORARY ON DATABASE %I {to} mandat_app',
                       current_database());
        FOR object IN
            SELECT c.oid::regclass::text AS name, c.relkind FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
              AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = c.oid AND d.deptype = 'e')
        LOOP
            IF object.relkind = 'S' THEN
                EXECUTE format('{grant} USAGE, SELECT ON SEQUENCE %s {to} mandat_app', object.name);
            ELSE
                EXECUTE format('{grant} SELECT, INSERT, UPDATE, DELETE ON TABLE %s {to} mandat_app',
                               object.name);
            END IF;
        END LOOP;
        FOR object IN
            SELECT p.oid::regprocedure::text AS name FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
              AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                AND d.objid = p.oid AND d.deptype = 'e')
        LOOP
            EXECUTE format('{grant} EXECUTE ON FUNCTION %s {to} mandat_app', object.name);
        END LOOP;
    END $$
"""

ANALYZE_DOCUMENTS = f"""
    CREATE FUNCTION analyze_documents() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    BEGIN
        ANALYZE document_line, invoice;
    END $$;
    REVOKE EXECUTE ON FUNCTION analyze_documents() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION analyze_documents() TO {APP};
"""


def upgrade() -> None:
    op.execute(CREATE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP}")
    op.execute(OUR_OBJECTS.format(grant="GRANT", to="TO"))
    op.execute(f"REVOKE UPDATE, DELETE ON {', '.join(APPEND_ONLY)} FROM {APP}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP}")  # /readyz reads it
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO {APP}")
    op.execute(ANALYZE_DOCUMENTS)


def downgrade() -> None:
    op.execute("DROP FUNCTION analyze_documents()")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP}")
    op.execute(OUR_OBJECTS.format(grant="REVOKE", to="FROM"))
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP}")
