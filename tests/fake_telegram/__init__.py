"""Fake Telegram Bot API server for end-to-end tests with the real bot libraries."""

from __future__ import annotations

from tests.fake_telegram.server import DEFAULT_TOKEN, Call, FakeTelegram

__all__ = ["DEFAULT_TOKEN", "Call", "FakeTelegram"]
