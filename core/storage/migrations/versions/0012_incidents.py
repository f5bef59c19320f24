"""personal-data breaches (incidents) and each affected customer's notice

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("aware_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("summary_enc", sa.LargeBinary(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("held_from", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("held_until", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("risk", sa.String(length=8), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("notified_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "authority_told_at", core.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("closed_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_state"), ["state"], unique=False)
    op.create_table(
        "incident_notices",
        sa.Column("incident_ref", sa.String(length=32), nullable=False),
        sa.Column("customer_ref", sa.String(length=32), nullable=False),
        sa.Column("jurisdiction", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_ref", "customer_ref", name=op.f("pk_incident_notices")),
    )
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.create_index("ix_incident_notices_state", ["incident_ref", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_notices_state")
    op.drop_table("incident_notices")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_state"))
    op.drop_table("incidents")
