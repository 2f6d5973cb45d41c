"""0010 trained trainers and the disclosure threshold: a session may name its trainer as a volunteer trained in this
pilot (the cascade is counted from the app's own records), and the programme holds the smallest group the pilot
review shows

Revision ID: 24bd65e70308
Revises: 4788ca408a46
Create Date: 2026-12-03 10:26:13.431908

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "24bd65e70308"
down_revision = "4788ca408a46"
branch_labels = None
depends_on = None

# A migration keeps its own copy of the default: later code may change the model's.
DISCLOSURE_THRESHOLD = "5"


def upgrade():
    # No table rebuilt here has a trigger (SQLite's only one is on audit_events), so none needs re-creating.
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disclosure_threshold", sa.Integer(), server_default=DISCLOSURE_THRESHOLD, nullable=False)
        )

    with op.batch_alter_table("training_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trainer_volunteer_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_training_sessions_trainer_volunteer_id"), ["trainer_volunteer_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_training_sessions_trainer_volunteer_id_volunteers"),
            "volunteers",
            ["trainer_volunteer_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("training_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_training_sessions_trainer_volunteer_id_volunteers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_training_sessions_trainer_volunteer_id"))
        batch_op.drop_column("trainer_volunteer_id")

    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.drop_column("disclosure_threshold")
