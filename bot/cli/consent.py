"""``privacy-bot consent export``: every consent decision as ISO/IEC TS 27560 records
(JSON-LD) or CSV, for an audit.

Streams the ledger a batch at a time into a temporary file beside OUT, renamed into
place once complete: memory stays flat however long the ledger, and OUT is never
left half-written. A progress line goes to standard error. The export itself is
audited (its size and format, never its content).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bot.render.consent_records import consent_record, csv_header, csv_row
from core.app import PrivacyCore
from core.services.consent import ExportConsents, consent_ledger, record_consent_export
from core.services.desk.queue import CLI

__all__ = ["consent_export_command"]


async def consent_export_command(
    out: str, fmt: str, purpose: str | None, since: str | None, core: PrivacyCore
) -> int:
    try:
        start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
    except ValueError:
        return _fail(f"--since: expected a date like 2026-01-31, got {since!r}")
    if purpose is not None and purpose not in {p.key for p in core.policy.purposes}:
        return _fail(f"--purpose: no purpose {purpose!r} in the policy")
    target = Path(out)
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as error:
        return _fail(f"cannot write {target}: {error.strerror or error}")
    cmd = ExportConsents(CLI, purpose, start)
    with handle:
        written = await _write(handle, fmt, cmd, core)
    os.replace(partial, target)
    async with core.uow() as uow:
        await record_consent_export(cmd, fmt, written, uow)
        await uow.commit()
    print(f"{written:,} consent record(s) written to {target}")
    return 0


async def _write(handle: IO[str], fmt: str, cmd: ExportConsents, core: PrivacyCore) -> int:
    policy, written = core.policy, 0
    async with core.uow() as uow:
        total = await uow.consents.count(cmd.purpose)
        handle.write(csv_header() if fmt == "csv" else "[\n")
        async for entry, status, language, jurisdiction in consent_ledger(cmd, uow):
            if fmt == "csv":
                handle.write(csv_row(entry, status, policy, jurisdiction))
            else:
                record = consent_record(
                    entry, status, policy, language=language, jurisdiction=jurisdiction
                )
                handle.write((",\n" if written else "") + json.dumps(record, ensure_ascii=False))
            written += 1
            if written % 10_000 == 0:
                _progress(written, total)
        handle.write("" if fmt == "csv" else "\n]\n")
    _progress(written, total)
    print(file=sys.stderr)
    return written


def _progress(done: int, total: int) -> None:
    print(
        f"\rconsent records: {done:,} of {total:,} decisions", end="", file=sys.stderr, flush=True
    )


def _fail(message: str) -> int:
    print(f"privacy-bot: error: {message}", file=sys.stderr)
    return 2
