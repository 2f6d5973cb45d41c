"""0008 admin, second factor and retention: programme settings in the database, organisation types, retired
reference rows, TOTP and recovery codes, staff invitation links, volunteers whose identity can be removed, and
the retention job's runs

Revision ID: 20bcd2b204f3
Revises: b335619cde0f
Create Date: 2026-12-03 06:08:00.203910

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "20bcd2b204f3"
down_revision = "b335619cde0f"
branch_labels = None
depends_on = None

PROGRAMME_SETTINGS = {
    "service_name": sa.String(length=100),
    "organisation_name": sa.String(length=200),
    "contact_email": sa.String(length=254),
    "elearning_url": sa.String(length=500),
    "signpost_name": sa.String(length=100),
    "signpost_url": sa.String(length=500),
    "late_promotion_hours": sa.Integer(),
    "evaluation_open_days": sa.Integer(),
    "evaluation_reminder_days": sa.Integer(),
    "followup_after_weeks": sa.Integer(),
    "joining_link_hosts": sa.String(length=500),
    "retention_months": sa.Integer(),
    "privacy_notice_version": sa.String(length=20),
}
# The values config held until now (a migration keeps its own copy: later code may change the defaults).
SETTING_VALUES = {
    "service_name": "MECC Volunteer",
    "organisation_name": "Oxfordshire MECC partnership",
    "contact_email": "mecc@example.org",
    "elearning_url": "https://www.e-lfh.org.uk/programmes/making-every-contact-count/",
    "signpost_name": "Live Well Oxfordshire",
    "signpost_url": "https://livewell.oxfordshire.gov.uk/",
    "late_promotion_hours": 48,
    "evaluation_open_days": 14,
    "evaluation_reminder_days": 7,
    "followup_after_weeks": 8,
    "joining_link_hosts": "teams.microsoft.com\nteams.live.com\nzoom.us",
    "retention_months": 12,
    "privacy_notice_version": "2026-09",
}

APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)


def upgrade():
    op.create_table(
        "organisation_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_types")),
        sa.UniqueConstraint("name", name=op.f("uq_organisation_types_name")),
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_on", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("volunteers", sa.Integer(), nullable=False),
        sa.Column("outgoing_emails", sa.Integer(), nullable=False),
        sa.Column("sign_in_attempts", sa.Integer(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("rate_limit_hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
        sa.UniqueConstraint("run_on", name=op.f("uq_retention_runs_run_on")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_recovery_codes_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_codes_staff_user_id"), ["staff_user_id"], unique=False)

    op.create_table(
        "staff_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum("INVITATION", "PASSWORD_RESET", name="stafflinkpurpose", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_links_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_links_token_hash")),
    )
    with op.batch_alter_table("staff_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_links_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_links_staff_user_id"), ["staff_user_id"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_staff_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("volunteer_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_audit_events_target_staff_user_id"), ["target_staff_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_events_volunteer_id"), ["volunteer_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_events_volunteer_id_volunteers"), "volunteers", ["volunteer_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_audit_events_target_staff_user_id_staff_users"),
            "staff_users",
            ["target_staff_user_id"],
            ["id"],
        )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's batch mode rebuilt the table, and its triggers went with the old one.
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only")
        op.execute(APPEND_ONLY_SQLITE)

    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_type_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_organisations_organisation_type_id_organisation_types"),
            "organisation_types",
            ["organisation_type_id"],
            ["id"],
        )

    # The settings an admin edits, with today's values for the existing programme: added nullable, filled in,
    # then required (the model holds the defaults for new rows).
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        for name, type_ in PROGRAMME_SETTINGS.items():
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.add_column(sa.Column("privacy_notice_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    programmes = sa.table("programmes", *(sa.column(name) for name in [*PROGRAMME_SETTINGS, "updated_at"]))
    op.execute(programmes.update().values(**SETTING_VALUES, updated_at=sa.func.current_timestamp()))
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        for name, type_ in [*PROGRAMME_SETTINGS.items(), ("updated_at", sa.DateTime())]:
            batch_op.alter_column(name, existing_type=type_, nullable=False)

    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_confirmed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(length=255), nullable=True)

    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_removed_at", sa.DateTime(), nullable=True))
        batch_op.alter_column("name", existing_type=sa.VARCHAR(length=100), nullable=True)
        batch_op.alter_column("email", existing_type=sa.VARCHAR(length=254), nullable=True)
        batch_op.alter_column("email_normalised", existing_type=sa.VARCHAR(length=254), nullable=True)
        batch_op.alter_column("role", existing_type=sa.VARCHAR(length=100), nullable=True)
        batch_op.create_index(batch_op.f("ix_volunteers_identity_removed_at"), ["identity_removed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteers_identity_removed_at"))
        batch_op.alter_column("role", existing_type=sa.VARCHAR(length=100), nullable=False)
        batch_op.alter_column("email_normalised", existing_type=sa.VARCHAR(length=254), nullable=False)
        batch_op.alter_column("email", existing_type=sa.VARCHAR(length=254), nullable=False)
        batch_op.alter_column("name", existing_type=sa.VARCHAR(length=100), nullable=False)
        batch_op.drop_column("identity_removed_at")

    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(length=255), nullable=False)
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret")

    with op.batch_alter_table("programmes", schema=None) as batch_op:
        for name in [*PROGRAMME_SETTINGS, "privacy_notice_text", "updated_at"]:
            batch_op.drop_column(name)

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_organisations_organisation_type_id_organisation_types"), type_="foreignkey"
        )
        batch_op.drop_column("retired_at")
        batch_op.drop_column("organisation_type_id")

    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.drop_column("retired_at")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_audit_events_target_staff_user_id_staff_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_audit_events_volunteer_id_volunteers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_events_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_target_staff_user_id"))
        batch_op.drop_column("volunteer_id")
        batch_op.drop_column("target_staff_user_id")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only")
        op.execute(APPEND_ONLY_SQLITE)

    with op.batch_alter_table("staff_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_links_staff_user_id"))
        batch_op.drop_index(batch_op.f("ix_staff_links_expires_at"))

    op.drop_table("staff_links")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_staff_user_id"))

    op.drop_table("recovery_codes")
    op.drop_table("retention_runs")
    op.drop_table("organisation_types")
