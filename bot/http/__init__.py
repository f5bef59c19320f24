"""The bot's HTTP side: Telegram webhook, purchase callbacks, health and metrics."""
