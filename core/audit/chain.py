"""Hash chaining and verification of audit entries.

Hashes are keyed (HMAC-SHA256 under a key wrapped by the master key), so someone
who can write to the database but does not hold the master key cannot rebuild a
consistent chain after changing it.

Each entry's hash covers the previous entry's hash and its own content (not its
sequence number), so verification can tell an edited entry (its own hash is off)
from a deleted, inserted or reordered one (the links between hashes are off).

What "its own content" means is fixed per entry by its ``version``:

1. The entry decoded, as canonical JSON (an object: ``at`` as ISO text, ``details`` as
   an object). Entries written before version 2 keep this rule for ever; verifying
   one means decoding it and serialising it again (slow: JSON and datetime work).
2. The entry's columns as the database stores them, previous hash first, as a compact
   JSON array::

       ["prev_hash",version,"at","actor_kind","actor_ref","action","subject_ref",
        "purpose","outcome","details"]

   ``at`` is the UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLite's stored text; on
   PostgreSQL ``to_char`` renders the same), ``details`` the stored JSON text as one
   string, None is ``null``. It is what ``json.dumps(..., ensure_ascii=False,
   separators=(",", ":"))`` writes, and byte for byte what SQLite's ``json_array()`` and
   PostgreSQL's ``to_json`` make of the stored values, so the database can lay out the
   bytes to hash and verification decodes nothing. A JSON array is unambiguous: no
   edit of one column can hide in a neighbour, None differs from "", and a NUL inside
   a SQLite text is escaped, not a place where the text ends.

New entries are written as version 2 (``CHAIN_VERSION``). An entry is never rehashed
under a newer rule: that would bless whatever it holds, tampered or not.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CHAIN_VERSION",
    "GENESIS_HASH",
    "RECORD_SEP",
    "AuditEntry",
    "ChainVerifier",
    "Outcome",
    "StoredEntry",
    "VerifyResult",
    "at_text",
    "details_text",
    "entry_hash",
    "entry_message",
    "verify_chain",
]

CHAIN_VERSION = 2
GENESIS_HASH = "0" * 64
RECORD_SEP = b"\x1e"  # between the messages of a run (see ChainVerifier.check_run)
_PREV_HASH_IN_MESSAGE = operator.itemgetter(slice(2, 66))  # b'["' + 64 hex digits
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
    version: int = CHAIN_VERSION


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the database holds it: ``at`` and ``details`` are the stored text.

    What version 2 hashes. The values are whatever the database returned (a tampered
    SQLite column may hold a number or bytes); one that cannot be hashed fails.
    """

    seq: int
    version: int
    at: str
    actor_kind: str
    actor_ref: str
    action: str
    subject_ref: str | None
    purpose: str | None
    outcome: str
    details: str
    prev_hash: str
    hash: str


def at_text(at: datetime) -> str:
    """The canonical UTC text of a moment, as SQLite stores it and version 2 hashes it."""
    u = at.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"
    )


def details_text(details: dict[str, Any]) -> str:
    """The stored text of an entry's details (what version 2 hashes)."""
    return json.dumps(details, sort_keys=True, ensure_ascii=False)


def _content_v1(entry: AuditEntry) -> bytes:
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


def entry_message(entry: AuditEntry | StoredEntry) -> bytes:
    """The bytes an entry's hash covers, by its version's rule.

    Raises ValueError (or TypeError, for values of the wrong type) when there is none:
    an unknown version, or a version 1 entry given as stored text.
    """
    if entry.version == 1 and isinstance(entry, AuditEntry):
        return entry.prev_hash.encode("ascii") + b"\n" + _content_v1(entry)
    if entry.version == 2:
        if isinstance(entry, AuditEntry):
            at, details = at_text(entry.at), details_text(entry.details)
        else:
            at, details = entry.at, entry.details
        columns = [
            entry.prev_hash,
            entry.version,
            at,
            entry.actor_kind,
            entry.actor_ref,
            entry.action,
            entry.subject_ref,
            entry.purpose,
            entry.outcome,
            details,
        ]
        return json.dumps(columns, ensure_ascii=False, separators=(",", ":")).encode()
    raise ValueError(f"no hashing rule for audit chain version {entry.version!r}")


def entry_hash(entry: AuditEntry | StoredEntry, key: bytes) -> str:
    return hmac.new(key, entry_message(entry), hashlib.sha256).hexdigest()


class _Mac:
    """HMAC-SHA256 under one key with the key's two padded blocks hashed once (RFC 2104).

    The same digests as ``hmac.new(key, message, "sha256")``: copying two prepared
    states costs about half of setting HMAC up for every message.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > hashlib.sha256().block_size:
            key = hashlib.sha256(key).digest()
        key = key.ljust(hashlib.sha256().block_size, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


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
    """Checks entries in sequence order, in constant memory.

    ``check`` takes one entry and answers None while the chain holds, or the first
    problem; a broken link is explained with ``later_seq``: where the hash the entry
    points back to lives in the log, if anywhere (the caller looks it up, e.g. in the
    database). ``check_run`` vouches for a whole run of version 2 entries at once, or
    declines and leaves them to ``check``.
    """

    def __init__(self, key: bytes) -> None:
        self._mac = _Mac(key)
        self.count = 0
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._before_prev = GENESIS_HASH

    @property
    def expected_seq(self) -> int:
        return self._expected_seq

    def check(self, entry: AuditEntry | StoredEntry) -> VerifyResult | None:
        if entry.seq != self._expected_seq:
            problem = f"deleted: entries {self._expected_seq}..{entry.seq - 1} are missing"
            return VerifyResult(False, self.count, self._expected_seq, problem)
        if not self._sealed(entry):
            return self._broken(entry.seq, "edited: its content does not match its hash")
        if entry.prev_hash != self._prev_hash:
            return self._broken(entry.seq, _LINK_BREAK)
        self._before_prev, self._prev_hash = self._prev_hash, entry.hash
        self._expected_seq += 1
        self.count += 1
        return None

    def _sealed(self, entry: AuditEntry | StoredEntry) -> bool:
        try:
            expected = self._mac.hexdigest(entry_message(entry))
        except (TypeError, ValueError):  # undecodable or unknown version: not as written
            return False
        return isinstance(entry.hash, str) and entry.hash == expected

    def check_run(self, after: int, offsets: str, messages: bytes, hashes: str) -> bool:
        """Vouch for the next run of entries in one go: True, and they count as checked.

        The database lays the run out from the stored columns, in sequence order:
        ``messages``, each entry's version 2 message (its columns as a JSON array,
        previous hash first) joined by RECORD_SEP; ``hashes``, the stored hashes joined
        by ","; ``offsets``, each sequence number minus ``after`` joined by "," (see the
        audit repository). ``after`` must be the last entry checked.

        False says nothing about the entries (a version 1 entry, a gap, tampering, a
        run not laid out as expected): nothing is counted, and the caller checks the
        same entries one by one with ``check``, which names the problem, if any.

        Why True is safe: every message has the stored hash next to it as its HMAC, so
        it is a message this chain's key signed, and a JSON array decodes one way only,
        so every column is exactly as written; each message starts with the hash before
        it (the link), and the sequence numbers run on from the last entry checked,
        in order, with nothing missing in between.
        """
        texts = messages.split(RECORD_SEP)
        if after != self._expected_seq - 1 or offsets != _counting(len(texts)):
            return False
        mac_inner, mac_outer = self._mac.inner.copy, self._mac.outer.copy
        digests: list[str] = []
        add = digests.append
        for text in texts:
            inner = mac_inner()
            inner.update(text)
            outer = mac_outer()
            outer.update(inner.digest())
            add(outer.hexdigest())
        if hashes != ",".join(digests):  # hex holds no ",": each stored hash is its own
            return False
        # The links: b'["' + prev_hash + b'",...'; the HMACs above prove each text is
        # as written, so its prev_hash is those 64 characters, the hash before it.
        links = (self._prev_hash + "".join(digests[:-1])).encode()
        if b"".join(map(_PREV_HASH_IN_MESSAGE, texts)) != links:
            return False
        self._before_prev = digests[-2] if len(digests) > 1 else self._prev_hash
        self._prev_hash = digests[-1]
        self._expected_seq += len(digests)
        self.count += len(digests)
        return True

    def explain_link(self, entry: AuditEntry | StoredEntry, later_seq: int | None) -> VerifyResult:
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


@functools.lru_cache(maxsize=8)
def _counting(n: int) -> str:
    return ",".join(map(str, range(1, n + 1)))


def verify_chain(
    entries: Iterable[AuditEntry | StoredEntry], key: bytes, find: HashLookup | None = None
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
