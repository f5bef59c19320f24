"""Who did something, as the audit log names them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Actor"]


@dataclass(frozen=True)
class Actor:
    """Who did it, pseudonymously: a customer ref, a staff pseudonym, or the system."""

    kind: str
    ref: str
