"""0011 app secrets: keys the app makes for itself and every server shares, starting with the pseudonymisation key
of the respondent codes in downloads (made here, once: the codes no longer change when SECRET_KEY is rotated)

Revision ID: 2d75d8f37e21
Revises: 24bd65e70308
Create Date: 2026-12-03 14:55:02.118530

"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "2d75d8f37e21"
down_revision = "24bd65e70308"
branch_labels = None
depends_on = None

# A migration keeps its own copy of the name and the key's size: later code may change the app's.
PSEUDONYMISATION = "pseudonymisation"
KEY_BYTES = 32


def upgrade():
    app_secrets = op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    # Made with the table, so every server finds the same key (the app makes one only if the row goes missing).
    op.bulk_insert(
        app_secrets,
        [
            {
                "name": PSEUDONYMISATION,
                "value": secrets.token_hex(KEY_BYTES),
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ],
    )


def downgrade():
    # The key goes with the table: upgrading again makes a new one, and every respondent code changes.
    op.drop_table("app_secrets")
