"""The key store: customers' data keys, kept apart from the data they open.

A copy of the main database holds only ciphertext; the keys that open it live
here, in a store of their own (by default ``keys/keys.db`` in the data folder;
with PostgreSQL, the database named by ``PRIVACY_KEYSTORE_URL``). Erasing a
customer destroys their key here and notes it in the erasure journal, which
lives with the keys, so a database restored from any backup is erased again
before anyone is served.
"""

from __future__ import annotations

from core.storage.keystore.sql import SqlKeyStore, open_keystore
from core.storage.keystore.store import Erased, KeyStore

__all__ = ["Erased", "KeyStore", "SqlKeyStore", "open_keystore"]
