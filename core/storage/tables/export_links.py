"""Single-use links to a customer's copy of their data (where the chat app takes no ZIP)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["ExportLinkRow"]


class ExportLinkRow(Base):
    """Only a keyed hash of the link's token is kept; the copy is built when opened."""

    __tablename__ = "export_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(32), index=True)
    request_ref: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
