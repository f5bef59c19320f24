"""Tables of the rights area (see core/storage/schema.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables import Base
from core.storage.types import UTCDateTime

__all__ = ["Base", "PendingChangeRow"]


class PendingChangeRow(Base):
    """A correction waiting for staff approval; the new value is encrypted with the
    customer's key, so an erasure (key shred + cascade) takes it along."""

    __tablename__ = "rights_pending_changes"
    request_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(16))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
