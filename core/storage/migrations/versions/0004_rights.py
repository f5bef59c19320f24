"""rights: corrections waiting for staff approval

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_pending_changes",
        sa.Column("request_ref", sa.String(length=32), nullable=False),
        sa.Column("customer_ref", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_ref"],
            ["customers.ref"],
            name=op.f("fk_rights_pending_changes_customer_ref_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_ref", name=op.f("pk_rights_pending_changes")),
    )
    with op.batch_alter_table("rights_pending_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rights_pending_changes_customer_ref"), ["customer_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rights_pending_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rights_pending_changes_customer_ref"))
    op.drop_table("rights_pending_changes")
