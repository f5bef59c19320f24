"""Framework-free conversations: events in, replies out."""

from __future__ import annotations

from bot.conversation.engine import FlowEngine
from bot.conversation.events import Button, EventKind, Incoming, Outcome, Reply
from bot.conversation.routes import COMMAND_MENU

__all__ = ["COMMAND_MENU", "Button", "EventKind", "FlowEngine", "Incoming", "Outcome", "Reply"]
