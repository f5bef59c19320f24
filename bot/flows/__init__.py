"""Framework-free conversations: events in, replies out."""

from __future__ import annotations

from bot.flows.engine import COMMAND_MENU, FlowEngine
from bot.flows.events import Button, EventKind, Incoming, Outcome, Reply

__all__ = ["COMMAND_MENU", "Button", "EventKind", "FlowEngine", "Incoming", "Outcome", "Reply"]
