"""export_links: single-use links to a customer's copy (WhatsApp takes no ZIP)

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_AT = core.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "export_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_ref", sa.String(length=32), nullable=False),
        sa.Column("request_ref", sa.String(length=32), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("used_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_export_links")),
    )
    with op.batch_alter_table("export_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_links_customer_ref"), ["customer_ref"])
        batch_op.create_index(batch_op.f("ix_export_links_expires_at"), ["expires_at"])


def downgrade() -> None:
    op.drop_table("export_links")
