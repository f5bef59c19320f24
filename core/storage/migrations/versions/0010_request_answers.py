"""customers answer the shop's questions about a request (encrypted, erased with them)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_ref", sa.String(length=32), nullable=False),
        sa.Column("customer_ref", sa.String(length=32), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_ref"],
            ["customers.ref"],
            name=op.f("fk_request_answers_customer_ref_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_answers")),
    )
    with op.batch_alter_table("request_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_answers_customer_ref"), ["customer_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_request_answers_request_ref"), ["request_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_answers_request_ref"))
        batch_op.drop_index(batch_op.f("ix_request_answers_customer_ref"))
    op.drop_table("request_answers")
