"""Logging set-up: our records name kinds and pseudonyms; libraries that would log
payloads, message texts or the bot token (in request URLs) are kept quiet, and what
they still log is scrubbed: a library's message or traceback can quote an API answer
(a chat id, the text of a reply, a phone number), so only its fixed wording and the
exception's type reach a log line."""

from __future__ import annotations

import logging
import re
from typing import IO

__all__ = [
    "QUIET_LOGGERS",
    "RedactTokens",
    "ScrubLibraryRecords",
    "configure_logging",
    "quiet_libraries",
]

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


_OURS = frozenset({"bot", "core", "bench", "privacy_bot", "__main__"})


class ScrubLibraryRecords(logging.Filter):
    """Records of the libraries (aiogram, python-telegram-bot, aiohttp, httpx, ...)
    keep their logger, level, fixed wording and exception type; their arguments,
    exception messages and tracebacks are dropped. Ours already carry no personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in _OURS:
            return True
        error = record.exc_info[1] if record.exc_info else None
        # With arguments the template is fixed text; without, it may be pre-formatted.
        wording = str(record.msg) if record.args else "(message withheld)"
        if error is not None:
            wording += f" [{type(error).__name__}]"
        record.msg, record.args = wording, None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubLibraryRecords())
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
