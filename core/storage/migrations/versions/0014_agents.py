"""authorized agents (DRP 1.0): pair-wise tokens as keyed hashes, and their requests

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_AT = core.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_tokens",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("paired_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_tokens_token_hash")),
    )
    op.create_table(
        "agent_requests",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("agent_request_id", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("regime", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=32), nullable=True),
        sa.Column("customer_ref", sa.String(length=32), nullable=True),
        sa.Column("data_request_ref", sa.String(length=32), nullable=True),
        sa.Column("status_callback", sa.String(length=2048), nullable=True),
        sa.Column("received_at", _AT, nullable=False),
        sa.Column("expected_by", _AT, nullable=True),
        sa.Column("closed_at", _AT, nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("opened_it", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_agent_requests")),
        sa.UniqueConstraint(
            "agent_id",
            "agent_request_id",
            name=op.f("uq_agent_requests_agent_id_agent_request_id"),
        ),
    )
    with op.batch_alter_table("agent_requests", schema=None) as batch_op:
        for column in ("agent_id", "customer_ref", "data_request_ref", "closed_at"):
            batch_op.create_index(batch_op.f(f"ix_agent_requests_{column}"), [column])


def downgrade() -> None:
    op.drop_table("agent_requests")
    op.drop_table("agent_tokens")
