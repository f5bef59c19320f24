"""seen_messages: platform message ids already handled (WhatsApp redelivers), 7 days

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_messages",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_seen_messages")),
    )
    with op.batch_alter_table("seen_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_messages_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_table("seen_messages")
