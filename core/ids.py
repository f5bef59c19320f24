"""Opaque references: random, so they reveal nothing and can be shown and logged."""

from __future__ import annotations

import secrets

__all__ = ["new_ref"]


def new_ref(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"
