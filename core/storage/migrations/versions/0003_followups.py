"""followups

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("customer_ref", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("scheduled_for", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_ref"],
            ["customers.ref"],
            name=op.f("fk_followups_customer_ref_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_followups")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followups_customer_ref"), ["customer_ref"])
        batch_op.create_index(batch_op.f("ix_followups_scheduled_for"), ["scheduled_for"])
        batch_op.create_index(batch_op.f("ix_followups_state"), ["state"])
        batch_op.create_index(batch_op.f("ix_followups_updated_at"), ["updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followups_updated_at"))
        batch_op.drop_index(batch_op.f("ix_followups_state"))
        batch_op.drop_index(batch_op.f("ix_followups_scheduled_for"))
        batch_op.drop_index(batch_op.f("ix_followups_customer_ref"))
    op.drop_table("followups")
