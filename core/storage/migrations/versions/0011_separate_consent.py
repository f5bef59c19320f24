"""consent ledger entries say when a PIPL separate consent was given on its own screen

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("separately", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("separately")
