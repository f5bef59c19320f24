"""Per-customer data keys and the field cipher built on them.

Each ciphertext is bound to its customer and field (AES-GCM associated data), so a
value copied into another customer's row or another column fails to decrypt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import IntegrityError

__all__ = ["DataKey", "FieldCipher", "new_data_key"]

_VERSION = b"\x01"
_NONCE_LEN = 12


@dataclass(frozen=True)
class DataKey:
    customer_ref: str
    secret: bytes


def new_data_key(customer_ref: str) -> DataKey:
    return DataKey(customer_ref, AESGCM.generate_key(bit_length=256))


class FieldCipher:
    """Encrypts and decrypts one customer's fields."""

    def __init__(self, key: DataKey) -> None:
        self._ref = key.customer_ref
        self._aead = AESGCM(key.secret)

    def _aad(self, field: str) -> bytes:
        return f"{self._ref}/{field}".encode()

    def encrypt(self, field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        nonce = os.urandom(_NONCE_LEN)
        return _VERSION + nonce + self._aead.encrypt(nonce, value.encode(), self._aad(field))

    def decrypt(self, field: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        if blob[:1] != _VERSION:
            raise IntegrityError(f"unknown ciphertext version in field {field}")
        nonce, sealed = blob[1 : 1 + _NONCE_LEN], blob[1 + _NONCE_LEN :]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(field)).decode()
        except InvalidTag as exc:
            raise IntegrityError(f"field {field} does not decrypt (tampered or misplaced)") from exc
