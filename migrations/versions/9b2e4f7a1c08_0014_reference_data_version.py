"""0014 the reference data's version: a second row of data_version that only the programme and the registration
form's choices move on (not sessions or bookings), so a page built from those and one session's state, like the
registration form, is kept through the bookings of other people

Revision ID: 9b2e4f7a1c08
Revises: 7a1c0d5e9b13
Create Date: 2026-12-03 20:20:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "9b2e4f7a1c08"
down_revision = "7a1c0d5e9b13"
branch_labels = None
depends_on = None

# A migration keeps its own copy of the tables: later code may change the app's.
REFERENCE_TABLES = ("programmes", "organisation_types", "organisations", "districts")
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP_BOTH = "UPDATE data_version SET version = version + 1 WHERE id IN (1, 2)"
BUMP_PUBLIC = "UPDATE data_version SET version = version + 1 WHERE id = 1"


def _sqlite_triggers(bump: str) -> None:
    for table in REFERENCE_TABLES:
        for event in EVENTS:
            name = f"{table}_{event.lower()}_bumps_data_version"
            op.execute(f"DROP TRIGGER {name}")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {bump}; END")


def upgrade():
    op.execute("INSERT INTO data_version (id, version) VALUES (2, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_reference_data_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP_BOTH}; RETURN NULL; END $$"
        )
        for table in REFERENCE_TABLES:
            op.execute(f"DROP TRIGGER {table}_bump_data_version ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_bump_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_data_version()"
            )
    else:
        _sqlite_triggers(BUMP_BOTH)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in REFERENCE_TABLES:
            op.execute(f"DROP TRIGGER {table}_bump_data_version ON {table}")
            op.execute(
                f"CREATE TRIGGER {table}_bump_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
            )
        op.execute("DROP FUNCTION bump_reference_data_version()")
    else:
        _sqlite_triggers(BUMP_PUBLIC)
    op.execute("DELETE FROM data_version WHERE id = 2")
