"""Bot settings: the Telegram and HTTP side, on top of the core's."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ConfigurationError
from core.settings import Settings

__all__ = ["BotSettings", "WhatsAppSettings"]

TELEGRAM_API = "https://api.telegram.org"
# Meta's Graph API, its version pinned: a new version is a deliberate change here.
WHATSAPP_API = "https://graph.facebook.com/v21.0"


@dataclass(frozen=True)
class WhatsAppSettings:
    """The WhatsApp Business (Cloud API) number this bot answers on."""

    access_token: str
    phone_number_id: str
    app_secret: str  # checks X-Hub-Signature-256 on every webhook POST
    verify_token: str  # answers Meta's webhook verification (GET hub.challenge)
    api_base: str = WHATSAPP_API

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings | None:
        names = ("ACCESS_TOKEN", "PHONE_NUMBER_ID", "APP_SECRET", "VERIFY_TOKEN")
        given = {name: env.get(f"WHATSAPP_{name}") or "" for name in names}
        if not any(given.values()):
            return None
        missing = [f"WHATSAPP_{name}" for name, value in given.items() if not value]
        if missing:
            raise ConfigurationError(f"WhatsApp needs {', '.join(missing)} as well")
        if not given["PHONE_NUMBER_ID"].isdigit():
            raise ConfigurationError("WHATSAPP_PHONE_NUMBER_ID must be the number's id (digits)")
        return cls(
            access_token=given["ACCESS_TOKEN"],
            phone_number_id=given["PHONE_NUMBER_ID"],
            app_secret=given["APP_SECRET"],
            verify_token=given["VERIFY_TOKEN"],
            api_base=(env.get("WHATSAPP_API_BASE") or WHATSAPP_API).rstrip("/"),
        )


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
    whatsapp: WhatsAppSettings | None = None

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
            whatsapp=WhatsAppSettings.from_env(env),
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
