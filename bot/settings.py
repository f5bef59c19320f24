"""Bot settings: the Telegram and HTTP side, on top of the core's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ConfigurationError
from core.settings import Settings

__all__ = ["BotSettings"]

TELEGRAM_API = "https://api.telegram.org"


@dataclass(frozen=True)
class BotSettings:
    core: Settings
    token: str | None
    api_base: str
    webhook_url: str | None
    webhook_secret: str | None
    http_host: str
    http_port: int
    followup_delay: int
    start_timeout: int = 120  # seconds to keep trying Telegram at start

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotSettings:
        env = os.environ if env is None else env
        return cls(
            core=Settings.from_env(env),
            token=env.get("TELEGRAM_BOT_TOKEN") or None,
            api_base=(env.get("TELEGRAM_API_BASE") or TELEGRAM_API).rstrip("/"),
            webhook_url=env.get("PRIVACY_WEBHOOK_URL") or None,
            webhook_secret=env.get("PRIVACY_WEBHOOK_SECRET") or None,
            http_host=env.get("PRIVACY_HTTP_HOST") or "127.0.0.1",
            http_port=_int(env, "PRIVACY_HTTP_PORT", 8080),
            followup_delay=_int(env, "PRIVACY_FOLLOWUP_DELAY", 3 * 24 * 3600),
            start_timeout=_int(env, "TELEGRAM_START_TIMEOUT", 120),
        )

    def require_token(self) -> str:
        if not self.token:
            raise ConfigurationError(
                "TELEGRAM_BOT_TOKEN is not set (try `privacy-bot chat` to talk in the terminal)"
            )
        bot_id, _, secret = self.token.partition(":")
        if not bot_id.isdigit() or not secret or any(c.isspace() for c in self.token):
            raise ConfigurationError(
                "TELEGRAM_BOT_TOKEN is malformed: BotFather's tokens look like 123456789:AAE..."
            )
        return self.token


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw[:20]!r}") from None
