"""the bot's sending budget, shared by its processes (permits, chats, pause)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_permits",
        sa.Column("budget", sa.String(32), primary_key=True),
        sa.Column("slot", sa.Integer(), primary_key=True),
        sa.Column("at", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_index("ix_send_permits_budget_at", "send_permits", ["budget", "at"])
    op.create_table(
        "send_chats",
        sa.Column("budget", sa.String(32), primary_key=True),
        sa.Column("chat", sa.String(64), primary_key=True),
        sa.Column("next_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_send_chats_next_at", "send_chats", ["next_at"])
    op.create_table(
        "send_pauses",
        sa.Column("budget", sa.String(32), primary_key=True),
        sa.Column("until", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("send_pauses")
    op.drop_index("ix_send_chats_next_at", table_name="send_chats")
    op.drop_table("send_chats")
    op.drop_index("ix_send_permits_budget_at", table_name="send_permits")
    op.drop_table("send_permits")
