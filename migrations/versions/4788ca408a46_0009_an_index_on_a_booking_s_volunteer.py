"""0009 an index on a booking's volunteer: the retention job and a volunteer's own data look bookings up by
volunteer (the partial unique index covers active bookings only)

Revision ID: 4788ca408a46
Revises: 20bcd2b204f3
Create Date: 2026-12-03 07:47:12.093806

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "4788ca408a46"
down_revision = "20bcd2b204f3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bookings_volunteer_id"), ["volunteer_id"], unique=False)


def downgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookings_volunteer_id"))
