"""Envelope encryption and blind indexes; the only place that touches key material."""

from __future__ import annotations

from core.crypto.blind_index import BlindIndexer, keyed_hash, normalise_email, normalise_phone
from core.crypto.envelope import DataKey, FieldCipher, new_data_key
from core.crypto.keys import Keyring, MasterKey, generate_master_key, load_keyring

__all__ = [
    "BlindIndexer",
    "DataKey",
    "FieldCipher",
    "Keyring",
    "MasterKey",
    "generate_master_key",
    "keyed_hash",
    "load_keyring",
    "new_data_key",
    "normalise_email",
    "normalise_phone",
]
