"""Logging set-up: our records name kinds and pseudonyms; libraries that would log
payloads, message texts or the bot token (in request URLs) are kept quiet."""

from __future__ import annotations

import logging
import re

__all__ = ["QUIET_LOGGERS", "RedactTokens", "configure_logging", "quiet_libraries"]

# httpx logs every request URL at INFO, and Bot API URLs contain the token; the
# others log update payloads or SQL parameters at DEBUG.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram",
    "aiogram.event",
    "aiosqlite",
    "sqlalchemy",
    "asyncio",
)
_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")


class RedactTokens(logging.Filter):
    """A last line of defence: no bot token survives into a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg, record.args = _TOKEN.sub("<token>", message), None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
