"""Tables of the staffdesk area (see core/storage/schema.py)."""

from __future__ import annotations

from core.storage.tables import Base

__all__ = ["Base"]
