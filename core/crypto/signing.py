"""Ed25519 signed messages in libsodium's "combined mode": signature, then message.

The Data Rights Protocol's agents sign each request this way (64 bytes of signature
immediately followed by the JSON); ``cryptography`` verifies it, so no libsodium
binding is needed.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.errors import ConfigurationError

__all__ = ["SIGNATURE_SIZE", "open_signed", "verify_key"]

SIGNATURE_SIZE = 64
_KEY_SIZE = 32


def verify_key(encoded: str) -> Ed25519PublicKey:
    """A public key from its base64 form (as a directory lists it)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_SIZE:
        raise ConfigurationError("not a base64 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def open_signed(signed: bytes, key: Ed25519PublicKey) -> bytes | None:
    """The message, if ``signed`` is a combined-mode message signed with ``key``."""
    if len(signed) < SIGNATURE_SIZE:
        return None
    signature, message = signed[:SIGNATURE_SIZE], signed[SIGNATURE_SIZE:]
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return None
    return message
