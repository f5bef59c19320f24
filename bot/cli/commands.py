"""The one entry point, ``privacy-bot``: the bot, the terminal chat and staff tools.

Chat frameworks are imported only by ``run``, so ``--help`` and the rest start fast.
Each command that changes data is one unit of work, committed once at its end
(``keys rotate`` and ``retention run`` are batch drivers: one transaction per batch;
``backup restore`` puts files in place before it opens the core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bot.logs import configure_logging
from core.domain.policy import LegalClock
from core.errors import PrivacyError
from core.settings import Settings

if TYPE_CHECKING:
    # Imported when a command runs: `--help` stays fast without SQLAlchemy/Alembic.
    from core.app import PrivacyCore
    from core.audit import AuditEntry

__all__ = ["main"]

Command = Callable[[argparse.Namespace, "PrivacyCore"], Awaitable[int]]


def _add_incident_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("incident", help="a personal-data breach: record, notify, report")
    p.add_argument(
        "action",
        choices=["open", "list", "show", "assess", "notify", "authority", "close", "report"],
    )
    p.add_argument("incident_id", nargs="?", help="an incident id (i...), as in list")
    p.add_argument("--categories", help="open: e.g. contact,transaction")
    p.add_argument("--from", dest="held_from", help="open: data held from this day (YYYY-MM-DD)")
    p.add_argument("--until", dest="held_until", help="open: ... until this day")
    p.add_argument("--aware", help="open: when the shop became aware (default: now)")
    p.add_argument("--summary", help="open: what happened (staff only, kept encrypted)")
    p.add_argument("--risk", choices=["low", "high"], help="assess")
    p.add_argument("--measures", default="", help="assess: e.g. contained,passwords_reset")
    p.add_argument("--at", help="authority: when it was told (default: now)")
    p.add_argument("--yes", action="store_true", help="notify: do not ask")
    p.add_argument("--out", default=".", help="report: the folder for the JSON and HTML files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="privacy-bot",
        description="A customer privacy assistant for retailers: consent, surveys, data rights.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (no token needed)")
    chat.add_argument("--user", type=int, default=1, help="the customer id to chat as")
    chat.add_argument("--language", default=None, help="e.g. en, zh-hans, zh-hk")

    run = sub.add_parser("run", help="run the Telegram bot and the HTTP endpoints")
    run.add_argument("--framework", choices=["aiogram", "ptb"], default="aiogram")

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade", "move-to"])
    db.add_argument("target", nargs="?", help="move-to: the new (empty) PostgreSQL database URL")
    db.add_argument("--keystore", help="move-to: the new (empty) key-store database URL")

    audit = sub.add_parser("audit", help="verify or show the audit log")
    audit.add_argument("action", choices=["verify", "tail"])
    audit.add_argument("-n", type=int, default=20, help="entries to show with tail")
    audit.add_argument("--json", action="store_true", help="tail: one JSON object a line")

    keys = sub.add_parser("keys", help="master key maintenance")
    keys.add_argument("action", choices=["rotate"])

    staff = sub.add_parser("staff", help="manage staff members")
    staff.add_argument("action", choices=["add", "remove", "list"])
    staff.add_argument("telegram_id", nargs="?", type=int)
    staff.add_argument("--role", choices=["admin", "agent", "auditor"])

    requests = sub.add_parser("requests", help="the data request desk (list, decide)")
    requests.add_argument(
        "action", choices=["list", "show", "approve", "reject", "extend", "wait", "resume"]
    )
    requests.add_argument("request_id", nargs="?", help="a request id (q...), as in list")
    requests.add_argument(
        "reason",
        nargs="*",
        help="required for reject, extend and resume; for wait: identity or clarification",
    )

    stats = sub.add_parser("stats", help="consent and request statistics")
    stats.add_argument("--png", metavar="FILE", help="also write the chart as a PNG file")

    retention = sub.add_parser("retention", help="delete or pseudonymise data past its time")
    retention.add_argument("action", choices=["run"])
    retention.add_argument("--dry-run", action="store_true", help="show, change nothing")

    deadline = sub.add_parser("deadline", help="when a legal clock ends, and why")
    deadline.add_argument("regime", help="a jurisdiction of the policy: gdpr, ccpa, pipl, pdpo")
    deadline.add_argument("date", help="the day the request was received, e.g. 2026-09-28")
    deadline.add_argument(
        "--clock", choices=[c.value for c in LegalClock], default=LegalClock.RESPOND.value
    )

    _add_incident_parser(sub)

    consent = sub.add_parser("consent", help="the consent ledger as standard records")
    consent.add_argument("action", choices=["export"])
    consent.add_argument("out", metavar="OUT", help="the file to write")
    consent.add_argument("--format", choices=["27560", "csv"], default="27560")
    consent.add_argument("--purpose", help="one purpose of the policy (default: all)")
    consent.add_argument("--since", metavar="DATE", help="decisions from this day on (UTC)")

    backup = sub.add_parser("backup", help="back up or restore the database and the key store")
    backup.add_argument("action", choices=["create", "list", "restore"])
    backup.add_argument("dir", metavar="DIR", help="where backups go (restore: one backup)")
    backup.add_argument("--keys-dir", help="create: put the key-store copy here instead")
    backup.add_argument("--keys", action="store_true", help="restore: the key store too")
    backup.add_argument("--yes", action="store_true", help="restore: yes, replace the live data")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _load_dotenv()
    configure_logging(logging.INFO if args.command == "run" else logging.WARNING)
    try:
        return asyncio.run(_run(args))
    except PrivacyError as error:
        print(f"privacy-bot: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace) -> int:
    from core.app import open_core

    settings = Settings.from_env()
    if args.command == "deadline":  # the policy only: no database needed
        from bot.cli.deadline import deadline_command
        from core.domain.policy import load_policy

        policy = load_policy(settings.policy_file)
        return deadline_command(policy, args.regime, args.date, args.clock)
    if args.command == "backup" and args.action == "restore":
        from bot.cli.backup import restore_command

        return await restore_command(args, settings)  # puts files in place, then opens
    core = await open_core(settings)
    try:
        return await _COMMANDS[args.command](args, core)
    finally:
        await core.close()


def _load_dotenv() -> None:
    if os.path.exists(".env"):
        from dotenv import load_dotenv

        load_dotenv(".env", override=False)


async def _chat(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.channels.console import run_console
    from bot.conversation import FlowEngine

    language = args.language or os.environ.get("LANG", "").split(".")[0] or None
    await run_console(FlowEngine(core), user_id=args.user, language_code=language)
    return 0


async def _run_bot(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.runner import run_bot
    from bot.settings import BotSettings

    await run_bot(core, BotSettings.from_env(), framework=args.framework, settle=True)
    return 0


async def _db(args: argparse.Namespace, core: PrivacyCore) -> int:
    if args.action == "move-to":
        from bot.cli.move import move_command

        return await move_command(args.target, args.keystore, core)
    # open_core has applied every migration already.
    print("database is up to date")
    return 0


async def _audit(args: argparse.Namespace, core: PrivacyCore) -> int:
    from core.services import audit_tail, verify_audit

    async with core.uow() as uow:
        if args.action == "verify":
            result = await verify_audit(uow)
            print(result.describe())
            return 0 if result.ok else 1
        for entry in await audit_tail(args.n, uow):
            print(_audit_line(entry, as_json=args.json))
    return 0


def _audit_line(entry: AuditEntry, *, as_json: bool) -> str:
    """An entry for a person (details as JSON, like the chat's /audit) or, with
    ``--json``, one JSON object for machines."""
    if as_json:
        return json.dumps(
            {
                "seq": entry.seq,
                "at": entry.at.isoformat(),
                "actor": f"{entry.actor_kind}:{entry.actor_ref}",
                "action": entry.action,
                "subject": entry.subject_ref,
                "purpose": entry.purpose,
                "outcome": entry.outcome,
                "details": entry.details,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
    actor = f"{entry.actor_kind}:{entry.actor_ref}"
    details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
    return (
        f"{entry.seq:>7} {entry.at:%Y-%m-%d %H:%M:%S}Z {actor} {entry.action} "
        f"{entry.subject_ref or '-'} {entry.purpose or '-'} {entry.outcome} {details}"
    )


async def _keys(args: argparse.Namespace, core: PrivacyCore) -> int:
    from core.services.keys import rotate_master_key

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        print(f"\rrewrapping [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)

    report = await rotate_master_key(core, progress)
    print(file=sys.stderr)
    print(f"master key {report.new_kid} in force; {report.rewrapped} data keys rewrapped")
    return 0


async def _staff(args: argparse.Namespace, core: PrivacyCore) -> int:
    from core.domain.actor import Actor
    from core.services import SYSTEM, AddStaff, RemoveStaff, add_staff, list_staff, remove_staff

    by = Actor("cli", SYSTEM.ref)
    async with core.uow() as uow:
        if args.action == "list":
            for member in await list_staff(uow):
                print(f"{member.telegram_id}\t{member.role}\t{member.added_at:%Y-%m-%d}")
            return 0
        if args.telegram_id is None:
            print("privacy-bot: error: a telegram user id is required", file=sys.stderr)
            return 2
        if args.action == "add":
            if args.role is None:
                print("privacy-bot: error: --role is required for add", file=sys.stderr)
                return 2
            member = await add_staff(AddStaff(args.telegram_id, args.role, by), uow)
            await uow.commit()
            print(f"{member.telegram_id} is now {member.role}")
        else:
            await remove_staff(RemoveStaff(args.telegram_id, by), uow)
            await uow.commit()
            print(f"{args.telegram_id} removed")
    return 0


async def _requests(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.requests import requests_command

    return await requests_command(args.action, args.request_id, " ".join(args.reason), core)


async def _stats(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.requests import stats_command

    return await stats_command(args.png, core)


async def _retention(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.retention import retention_command

    return await retention_command(core, dry_run=args.dry_run)


async def _incident(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.incident import incident_command

    return await incident_command(args, core)


async def _consent(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.consent import consent_export_command

    return await consent_export_command(args.out, args.format, args.purpose, args.since, core)


async def _backup(args: argparse.Namespace, core: PrivacyCore) -> int:
    from bot.cli.backup import backup_command

    return await backup_command(args, core)


_COMMANDS: dict[str, Command] = {
    "backup": _backup,
    "consent": _consent,
    "incident": _incident,
    "retention": _retention,
    "requests": _requests,
    "stats": _stats,
    "chat": _chat,
    "run": _run_bot,
    "db": _db,
    "audit": _audit,
    "keys": _keys,
    "staff": _staff,
}

if __name__ == "__main__":
    raise SystemExit(main())
