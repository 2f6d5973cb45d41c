"""0013 the public data's version: one row that triggers on the sessions, bookings, programme and registration
choices move on in the same transaction as every write, so each app server sees at once that a page it keeps
rendered is out of date

Revision ID: 7a1c0d5e9b13
Revises: 5d518bac964c
Create Date: 2026-12-03 19:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7a1c0d5e9b13"
down_revision = "5d518bac964c"
branch_labels = None
depends_on = None

# A migration keeps its own copy of the tables followed: later code may change the app's.
TABLES = ("programmes", "organisation_types", "organisations", "districts", "training_sessions", "bookings")
BUMP = "UPDATE data_version SET version = version + 1 WHERE id = 1"


def upgrade():
    data_version = op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.bulk_insert(data_version, [{"id": 1, "version": 1}])
    if op.get_bind().dialect.name == "postgresql":
        # Once a statement, however many rows it writes; TRUNCATE too.
        op.execute(
            "CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
            )
    else:
        # SQLite has row triggers only: each row written moves the version on (any change is all that matters).
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_bumps_data_version AFTER {event} ON {table} "
                    f"BEGIN {BUMP}; END"
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_bump_data_version ON {table}")
        op.execute("DROP FUNCTION bump_data_version()")
    else:
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"DROP TRIGGER {table}_{event.lower()}_bumps_data_version")
    op.drop_table("data_version")
