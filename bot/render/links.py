"""Where a single-use link to a customer's copy points (served by bot/http/exports.py)."""

from __future__ import annotations

__all__ = ["EXPORT_PATH", "export_url"]

EXPORT_PATH = "/exports/{token}"


def export_url(base: str, token: str) -> str:
    return base.rstrip("/") + EXPORT_PATH.format(token=token)
