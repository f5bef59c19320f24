"""Persistence: SQLAlchemy 2 async, repositories and the unit of work."""

from __future__ import annotations

from core.storage.database import Database
from core.storage.unit_of_work import UnitOfWork

__all__ = ["Database", "UnitOfWork"]
