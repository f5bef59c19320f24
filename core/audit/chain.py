"""Hash chaining and verification of audit entries.

Hashes are keyed (HMAC-SHA256 under a key wrapped by the master key), so someone
who can write to the database but does not hold the master key cannot rebuild a
consistent chain after changing it.

Each entry's hash covers the previous entry's hash and its own content (not its
sequence number), so verification can tell an edited entry (its own hash is off)
from a deleted, inserted or reordered one (the links between hashes are off).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainVerifier",
    "Outcome",
    "VerifyResult",
    "entry_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
_LINK_BREAK = "link"


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor_kind: str
    actor_ref: str
    action: str
    subject_ref: str | None
    purpose: str | None
    outcome: str
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""


def _content(entry: AuditEntry) -> bytes:
    body = {
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": [entry.actor_kind, entry.actor_ref],
        "action": entry.action,
        "subject": entry.subject_ref,
        "purpose": entry.purpose,
        "outcome": entry.outcome,
        "details": entry.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry, key: bytes) -> str:
    message = entry.prev_hash.encode("ascii") + b"\n" + _content(entry)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.count} entries, chain intact"
        return f"BROKEN at entry {self.first_bad_seq}: {self.problem}"


HashLookup = Callable[[str], "int | None"]


class ChainVerifier:
    """Checks entries one at a time, in sequence order, in constant memory.

    ``check`` answers None while the chain holds, or the first problem; a broken
    link is explained with ``later_seq``: where the hash the entry points back to
    lives in the log, if anywhere (the caller looks it up, e.g. in the database).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.count = 0
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._before_prev = GENESIS_HASH

    def check(self, entry: AuditEntry) -> VerifyResult | None:
        if entry.seq != self._expected_seq:
            problem = f"deleted: entries {self._expected_seq}..{entry.seq - 1} are missing"
            return VerifyResult(False, self.count, self._expected_seq, problem)
        if not hmac.compare_digest(entry_hash(entry, self._key), entry.hash):
            return self._broken(entry.seq, "edited: its content does not match its hash")
        if entry.prev_hash != self._prev_hash:
            return self._broken(entry.seq, _LINK_BREAK)
        self._before_prev, self._prev_hash = self._prev_hash, entry.hash
        self._expected_seq += 1
        self.count += 1
        return None

    def explain_link(self, entry: AuditEntry, later_seq: int | None) -> VerifyResult:
        if entry.prev_hash == self._before_prev:
            return self._broken(entry.seq - 1, "inserted: not part of the original chain")
        if later_seq is not None and later_seq != entry.seq - 1:
            return self._broken(entry.seq, f"reordered: it follows entry {later_seq}")
        if entry.prev_hash == GENESIS_HASH:
            return self._broken(entry.seq, "inserted: a second chain start")
        return self._broken(entry.seq, "deleted: the entry it follows is missing")

    @staticmethod
    def is_link_break(result: VerifyResult) -> bool:
        """True when ``explain_link`` must tell what happened (it needs a look-up)."""
        return result.problem == _LINK_BREAK

    def result(self, head: tuple[int, str] | None = None) -> VerifyResult:
        """The verdict once every entry passed; ``head`` is the chain's recorded tip.

        Links cannot reveal entries cut off the end; the tip, updated in the same
        transaction as every append, can.
        """
        if head is not None:
            head_seq, head_hash = head
            if head_seq > self.count:
                problem = f"deleted: entries {self.count + 1}..{head_seq} are missing"
                return VerifyResult(False, self.count, self.count + 1, problem)
            if head_seq < self.count or head_hash != self._prev_hash:
                problem = "inserted: entries beyond the recorded end of the chain"
                return VerifyResult(False, self.count, head_seq + 1, problem)
        return VerifyResult(True, self.count)

    def _broken(self, seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, self.count, seq, problem)


def verify_chain(
    entries: Iterable[AuditEntry], key: bytes, find: HashLookup | None = None
) -> VerifyResult:
    """Verify a whole chain held in memory or streamed; ``find`` maps hash -> seq."""
    verifier = ChainVerifier(key)
    for entry in entries:
        problem = verifier.check(entry)
        if problem is not None:
            if verifier.is_link_break(problem):
                return verifier.explain_link(entry, find(entry.prev_hash) if find else None)
            return problem
    return verifier.result()
