"""Counting what reaches the database: transactions, commits, writes and statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from core.app import PrivacyCore

__all__ = ["Counted", "counting"]

_WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Counted:
    """What the core's engine saw while counting."""

    transactions: int = 0
    commits: int = 0
    rollbacks: int = 0
    writing: int = 0  # commits that carried a write
    statements: list[str] = field(default_factory=list)  # first word of each, BEGIN aside
    _wrote: set[int] = field(default_factory=set)


@contextmanager
def counting(core: PrivacyCore) -> Iterator[Counted]:
    counted = Counted()

    def began(_conn: Any) -> None:
        counted.transactions += 1

    def executed(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        word = statement.lstrip().split(" ", 1)[0].upper()
        if word in ("BEGIN", "SAVEPOINT", "RELEASE"):
            return
        counted.statements.append(word)
        if word in _WRITES:
            counted._wrote.add(id(conn))

    def committed(conn: Any) -> None:
        counted.commits += 1
        if id(conn) in counted._wrote:
            counted.writing += 1
            counted._wrote.discard(id(conn))

    def rolled_back(conn: Any) -> None:
        counted.rollbacks += 1
        counted._wrote.discard(id(conn))

    listeners = (
        ("begin", began),
        ("before_cursor_execute", executed),
        ("commit", committed),
        ("rollback", rolled_back),
    )
    engine = core.db.engine.sync_engine
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield counted
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
