"""audit chain version 2: each entry records the rule its hash follows

Existing entries keep version 1 (canonical JSON of the decoded entry) and are never
rehashed; new entries are written as version 2 (the stored text of their columns).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    # Without the column, version 2 entries would be checked by the version 1 rule
    # and reported as edited; refuse rather than make the log look tampered with.
    newer = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_entries WHERE version <> 1"))
    if newer:
        raise RuntimeError(
            f"cannot downgrade below 0007: {newer} audit entries use chain version 2"
        )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_column("version")
