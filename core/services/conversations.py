"""Use cases: a customer's conversation state (where they are in a dialog).

The state holds only positions and button tokens, never what the customer typed,
so saving it is not an audited change of personal data; it expires after the
policy's ``conversation_state_ttl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.storage import UnitOfWork

__all__ = ["SaveConversation", "load_conversation", "save_conversation"]


async def load_conversation(customer_ref: str, uow: UnitOfWork) -> dict[str, Any]:
    return await uow.conversations.load(customer_ref)


@dataclass(frozen=True)
class SaveConversation:
    customer_ref: str
    state: dict[str, Any]


async def save_conversation(cmd: SaveConversation, uow: UnitOfWork) -> None:
    if cmd.state:
        await uow.conversations.save(cmd.customer_ref, cmd.state, uow.now())
    else:
        await uow.conversations.clear(cmd.customer_ref)
