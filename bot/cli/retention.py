"""``privacy-bot retention run [--dry-run]``: the clean-up, with a progress bar and a summary."""

from __future__ import annotations

import sys
from typing import TextIO

from core.app import PrivacyCore
from core.domain.actor import Actor
from core.services import SYSTEM
from core.services.retention import RetentionPlan, run_retention

__all__ = ["retention_command"]

_LABELS = {
    "customer": "inactive customers deleted (key shredded)",
    "preference": "survey answers deleted",
    "transaction_pseudonymised": "purchases pseudonymised",
    "transaction_deleted": "purchases deleted (past legal hold)",
    "behaviour": "conversation states / follow-up records deleted",
    "requests": "closed request records deleted (past request_record_retention)",
    "jobs": "finished jobs purged",
    "signatures": "callback signatures purged",
}


async def retention_command(core: PrivacyCore, *, dry_run: bool, out: TextIO = sys.stdout) -> int:
    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        print(f"\rcleaning [{bar}] {done}/{total} customers", end="", file=sys.stderr, flush=True)

    async with core.uow() as uow:  # run_retention commits each batch itself (a batch driver)
        plan = await run_retention(
            uow, dry_run=dry_run, actor=Actor("cli", SYSTEM.ref), progress=progress
        )
    print(file=sys.stderr)
    _summary(plan, dry_run, out)
    return 0


def _summary(plan: RetentionPlan, dry_run: bool, out: TextIO) -> None:
    verb = "would remove" if dry_run else "removed"
    totals = plan.totals()
    out.write(f"retention {verb} ({plan.at:%Y-%m-%d %H:%M}Z, {len(plan.subjects)} customers)\n")
    width = max(len(label) for label in _LABELS.values())
    for key, label in _LABELS.items():
        out.write(f"  {label:<{width}}  {totals.get(key, 0):>8}\n")
    if dry_run:
        out.write("dry run: nothing was changed\n")
