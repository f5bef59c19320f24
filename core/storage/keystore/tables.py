"""The key store's own tables (its own metadata: never part of the main database)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

from core.storage.types import UTCDateTime

__all__ = ["SCHEMA", "data_keys", "erasures", "facts", "metadata"]

SCHEMA = "1"
metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("customer_ref", String(32), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("master_kid", String(16), nullable=False, index=True),
)

# The erasure journal: which customer refs were erased, and when (nothing else).
erasures = Table(
    "erasures",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("customer_ref", String(32), nullable=False, index=True),
    Column("erased_at", UTCDateTime, nullable=False),
)

# Small facts: the schema version and the main database these keys belong to.
facts = Table(
    "facts",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)
