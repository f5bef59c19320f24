"""``privacy-bot incident open|list|show|assess|notify|authority|close|report``.

The headless twin of ``/incident``: the same use cases with the CLI as the actor
(audited as ``cli``). ``notify`` shows how many customers will be told, in which
languages, and asks before it queues anything (``--yes`` answers for scripts).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.render.i18n import Translator
from bot.render.incident import describe_incident, parse_moment, parse_window, short
from bot.render.incident_report import report_data, write_report
from core.app import PrivacyCore
from core.services.incidents import (
    AssessIncident,
    CloseIncident,
    NotifyIncident,
    OpenIncident,
    TellAuthority,
    ViewIncident,
    assess_incident,
    close_incident,
    list_incidents,
    notify_incident,
    open_incident,
    tell_authority,
    view_incident,
)
from core.storage import UnitOfWork

__all__ = ["incident_command"]

_EN = Translator("en")


async def incident_command(args: argparse.Namespace, core: PrivacyCore) -> int:
    if args.action == "list":
        async with core.uow() as uow:
            for i in await list_incidents(None, uow):
                print(f"{i.ref}\t{i.state}\taware {short(i.aware_at)}\t{','.join(i.categories)}")
        return 0
    if args.action == "open":
        return await _open(args, core)
    if not args.incident_id:
        return _fail(f"an incident id is required for {args.action}")
    async with core.uow() as uow:
        return await _ACTIONS[args.action](args.incident_id, args, core, uow)


async def _show(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    view = await view_incident(ViewIncident(None, ref), uow)
    print("\n".join(describe_incident(_EN, view, uow.now())))
    print(f"summary: {view.incident.summary}")
    return 0


async def _assess(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    if args.risk is None:
        return _fail("--risk low|high is required for assess")
    measures = tuple(m for m in args.measures.split(",") if m)
    await assess_incident(AssessIncident(None, ref, args.risk, measures), uow)
    await uow.commit()
    print(f"{ref}: assessed, risk {args.risk}")
    return 0


async def _authority(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    at = parse_moment(args.at, core.policy.zone) if args.at else uow.now()
    told = await tell_authority(TellAuthority(None, ref, at), uow)
    await uow.commit()
    print(f"{ref}: the authority was told at {short(told.authority_told_at)}")
    return 0


async def _close(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    await close_incident(CloseIncident(None, ref), uow)
    await uow.commit()
    print(f"{ref}: closed")
    return 0


async def _report(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    view = await view_incident(ViewIncident(None, ref), uow)
    data = report_data(view, core.policy.privacy_officer, uow.now())
    for path in write_report(data, Path(args.out)):
        print(f"written {path}")
    return 0


async def _open(args: argparse.Namespace, core: PrivacyCore) -> int:
    if not args.categories or not args.summary:
        return _fail("open needs --categories and --summary (what happened)")
    zone = core.policy.zone
    since, until = parse_window(args.held_from, args.held_until, zone)
    async with core.uow() as uow:
        aware = parse_moment(args.aware, zone) if args.aware else uow.now()
        cmd = OpenIncident(
            None, aware, tuple(args.categories.split(",")), args.summary, since, until
        )
        opened = await open_incident(cmd, uow)
        await uow.commit()
        view = await view_incident(ViewIncident(None, opened.ref), uow)
        print("\n".join(describe_incident(_EN, view, uow.now())))
    return 0


async def _notify(ref: str, args: argparse.Namespace, core: PrivacyCore, uow: UnitOfWork) -> int:
    view = await view_incident(ViewIncident(None, ref), uow)
    languages = ", ".join(f"{lang} {n}" for lang, n in sorted(view.by_language.items()))
    print(
        f"{ref}: {sum(view.affected.values())} customer(s) will be told ({languages or 'none'}); "
        f"{sum(view.erased.values())} erased since are counted, not messaged"
    )
    answer = "yes" if args.yes else await asyncio.to_thread(input, "send the notices? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing sent")
        return 1
    queued = await notify_incident(NotifyIncident(None, ref), uow)
    await uow.commit()
    print(f"{ref}: {queued} notice(s) queued; `privacy-bot run` sends them")
    return 0


_ACTIONS = {
    "show": _show,
    "assess": _assess,
    "notify": _notify,
    "authority": _authority,
    "close": _close,
    "report": _report,
}


def _fail(message: str) -> int:
    print(f"privacy-bot: error: {message}", file=sys.stderr)
    return 2
