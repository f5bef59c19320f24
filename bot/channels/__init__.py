"""Thin translators between a channel (Telegram frameworks, a terminal) and the flows."""
