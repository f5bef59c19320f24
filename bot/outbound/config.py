"""The outbound limits, from the environment (the same values in every process of a bot)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import ConfigurationError

__all__ = ["OutboundConfig"]


@dataclass(frozen=True)
class OutboundConfig:
    per_second: int = 30  # messages a second for the whole bot (Telegram's limit)
    chat_interval: float = 1.0  # between unprompted messages to one chat
    # Added to each window: a permit is stamped when its message leaves, Telegram
    # counts when it arrives, and the two differ by the network's jitter.
    guard: float = 0.02
    # With several processes, a freed permit is seen this much earlier by a reply
    # than by a background send, so a waiting customer wins the race for it.
    head_start: float = 0.015
    # A background send is granted its permit up to this long before the permit
    # frees, and records its at-most-once marker meanwhile: the permit is not idle
    # while a transaction commits, and the marker still precedes the request by
    # no more than this (a crash in between is reported as uncertain).
    lead: float = 0.15

    @property
    def window(self) -> float:
        return 1.0 + self.guard

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutboundConfig:
        env = os.environ if env is None else env
        try:
            per_second = int(env.get("PRIVACY_OUTBOUND_PER_SECOND") or 30)
            interval = float(env.get("PRIVACY_OUTBOUND_CHAT_INTERVAL") or 1.0)
        except ValueError:
            raise ConfigurationError(
                "PRIVACY_OUTBOUND_PER_SECOND / _CHAT_INTERVAL must be numbers"
            ) from None
        if per_second < 1 or interval < 0:
            raise ConfigurationError("outbound limits must be positive")
        return cls(per_second=per_second, chat_interval=interval)
