"""The staff CLI, ``privacy-bot``: one module per subcommand group."""

from __future__ import annotations

from bot.cli.commands import main

__all__ = ["main"]
