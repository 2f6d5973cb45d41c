"""0012 prepared downloads: the responses XLSX and the evaluator pack of a large pilot, made by the jobs runner for
the evaluator who asked, kept in pieces in the database (any app server can send them) until they expire

Revision ID: 5d518bac964c
Revises: 2d75d8f37e21
Create Date: 2026-12-03 15:05:18.286677

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5d518bac964c"
down_revision = "2d75d8f37e21"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "prepared_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("export_name", sa.String(length=60), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("REQUESTED", "PREPARING", "READY", "FAILED", name="preparedstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("ready_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("download_name", sa.String(length=200), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_prepared_downloads_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepared_downloads")),
    )
    with op.batch_alter_table("prepared_downloads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prepared_downloads_staff_user_id"), ["staff_user_id"], unique=False)
        batch_op.create_index("ix_prepared_downloads_status", ["status", "requested_at"], unique=False)

    op.create_table(
        "prepared_download_parts",
        sa.Column("download_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["download_id"],
            ["prepared_downloads.id"],
            name=op.f("fk_prepared_download_parts_download_id_prepared_downloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("download_id", "seq", name=op.f("pk_prepared_download_parts")),
    )


def downgrade():
    op.drop_table("prepared_download_parts")
    with op.batch_alter_table("prepared_downloads", schema=None) as batch_op:
        batch_op.drop_index("ix_prepared_downloads_status")
        batch_op.drop_index(batch_op.f("ix_prepared_downloads_staff_user_id"))

    op.drop_table("prepared_downloads")
