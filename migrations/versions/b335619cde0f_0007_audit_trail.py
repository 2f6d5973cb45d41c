"""0007 the audit trail: an append-only row for every change to a booking or session and every message sent

Revision ID: b335619cde0f
Revises: 66b4775c4831
Create Date: 2026-12-02 19:26:22.259314

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b335619cde0f"
down_revision = "66b4775c4831"
branch_labels = None
depends_on = None

ACTIONS = (
    "BOOKED", "WAITLISTED", "PROMOTED", "CANCELLED", "MOVED", "ATTENDED", "DID_NOT_ATTEND", "ELEARNING_RECORDED",
    "JOINING_LINK_SENT", "ELEARNING_REMINDER_SENT", "DAY_BEFORE_REMINDER_SENT", "EVALUATION_INVITATION_SENT",
    "EVALUATION_REMINDER_SENT", "FOLLOWUP_INVITATION_SENT", "EMAIL_RETRIED", "SESSION_CREATED", "SESSION_UPDATED",
    "SESSION_CANCELLED", "ALL_MARKED_ATTENDED",
)  # fmt: skip
STATUSES = ("BOOKED", "WAITING", "CANCELLED", "ATTENDED", "DID_NOT_ATTEND")


def upgrade():
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("action", sa.Enum(*ACTIONS, name="auditaction", native_enum=False, length=40), nullable=False),
        sa.Column(
            "actor_kind",
            sa.Enum("STAFF", "VOLUNTEER", "SYSTEM", name="actorkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("training_session_id", sa.Integer(), nullable=True),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.Enum(*STATUSES, name="bookingstatus", native_enum=False, length=20), nullable=True),
        sa.Column("to_status", sa.Enum(*STATUSES, name="bookingstatus", native_enum=False, length=20), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_audit_events_booking_id_bookings")),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["staff_users.id"], name=op.f("fk_audit_events_staff_user_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["training_session_id"],
            ["training_sessions.id"],
            name=op.f("fk_audit_events_training_session_id_training_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_booking_id"), ["booking_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_training_session_id"), ["training_session_id"], unique=False)

    # Append-only: the database itself refuses to change a recorded row, whatever code runs.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def downgrade():
    op.execute(
        "DROP TRIGGER IF EXISTS audit_events_append_only"
        + (" ON audit_events" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_training_session_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_booking_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
    op.drop_table("audit_events")
