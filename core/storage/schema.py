"""Every table module, imported so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

from core.storage import tables, tables_followups, tables_rights, tables_staffdesk
from core.storage.tables import Base

__all__ = ["Base", "tables", "tables_followups", "tables_rights", "tables_staffdesk"]
