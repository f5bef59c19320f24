"""The flow engine: one conversation logic for every channel.

It finds (or registers) the customer, serialises their events, loads their
conversation state from the database, routes the event to a flow, saves the
state and returns the replies. Adapters do the rest.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from bot.flows import consent, followup, help, language, rights, staff, survey
from bot.flows.events import EventKind, Incoming, Outcome, Reply
from bot.flows.intents import route_for
from bot.flows.turn import Press, Turn, parse_press
from bot.i18n import Translator, locale_for
from core.app import PrivacyCore
from core.domain.customer import Customer, IdentityKind
from core.domain.survey import Survey, load_survey
from core.errors import PrivacyError
from core.services import (
    RegisterCustomer,
    SaveConversation,
    load_conversation,
    register_customer,
    save_conversation,
)
from core.services.customers import ReportBlocked, mark_reachable, report_blocked

__all__ = ["COMMAND_MENU", "FlowEngine"]

log = logging.getLogger("bot.flows")

Handler = Callable[[Turn], Awaitable[None]]
PressHandler = Callable[[Turn, Press], Awaitable[None]]

COMMANDS: dict[str, Handler] = {
    "start": consent.start,
    "privacy": consent.show_privacy,
    "survey": survey.start_survey,
    "language": language.choose_language,
    "help": help.show_help,
    **rights.COMMANDS,
}
PRESSES: dict[str, PressHandler] = {
    consent.ACTION: consent.on_consent_press,
    language.ACTION: language.on_language_press,
    **survey.ACTIONS,
    **rights.ACTIONS,
    **followup.ACTIONS,
}
# The customer's command menu, in this order (setMyCommands, per language).
COMMAND_MENU = (
    "start",
    "privacy",
    "mydata",
    "export",
    "correct",
    "delete",
    "requests",
    "survey",
    "language",
    "help",
)


# At most this many turns at once: aiogram runs updates concurrently, and a burst
# of them must queue here rather than exhaust the database connection pool.
MAX_CONCURRENT_TURNS = 8


class FlowEngine:
    def __init__(self, core: PrivacyCore, survey_def: Survey | None = None) -> None:
        self.core = core
        self.survey = survey_def or load_survey(core.settings.survey_file)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._turns = asyncio.Semaphore(MAX_CONCURRENT_TURNS)

    async def handle(self, event: Incoming) -> Outcome:
        """Replies to one event; never raises for anything a user can send."""
        if event.from_bot or event.kind is EventKind.EDITED:
            log.info("ignored event kind=%s", event.kind)
            return Outcome()
        if not event.private:
            return self._group_reply(event)
        async with self._lock(event.user_id), self._turns:
            try:
                return await self._handle(event)
            except Exception as exc:
                # Logged without the exception's message, which could quote input.
                log.error(
                    "flow failed kind=%s error=%s\n%s",
                    event.kind,
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                t = Translator(locale_for(event.language_code))
                return Outcome(replies=[Reply(text=t("error.internal"))])

    async def blocked(self, event: Incoming) -> None:
        """Telegram refused a reply: this person blocked the bot. Nothing unprompted
        goes to them until they write again (which lifts it)."""
        # Under their lock, so it does not interleave with one of their turns. (A turn
        # already queued may still lift it: they wrote, so they may have unblocked.)
        try:
            async with self._lock(event.user_id), self.core.uow() as uow:
                await report_blocked(ReportBlocked(str(event.user_id)), uow)
        except Exception as exc:
            # Not left to the framework, whose log line would quote the error's text
            # (SQL errors carry their parameters: the Telegram id).
            log.error("marking blocked failed error=%s", type(exc).__name__)

    def _lock(self, user_id: int) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    async def _handle(self, event: Incoming) -> Outcome:
        desk = await staff.dispatch(self.core, event)  # staff desk first; None: not for it
        if desk is not None:
            return desk
        customer, state = await self._customer(event)
        turn = Turn(self.core, event, customer, state, self.survey)
        log.info("event kind=%s customer=%s", event.kind, customer.ref)
        try:
            await self._route(turn)
        except PrivacyError as error:
            log.info("refused code=%s customer=%s", error.code, customer.ref)
            turn.say(
                turn.t(f"error.{error.code}") if _known(turn, error) else turn.t("error.generic")
            )
        async with self.core.uow() as uow:
            await save_conversation(SaveConversation(customer.ref, turn.state), uow)
        return turn.outcome

    async def _customer(self, event: Incoming) -> tuple[Customer, dict[str, Any]]:
        """The customer (registered at first contact) and their saved conversation state."""
        cmd = RegisterCustomer(
            IdentityKind.TELEGRAM,
            str(event.user_id),
            language=locale_for(event.language_code),
            channel=event.channel,
        )
        async with self.core.uow() as uow:
            customer, _created = await register_customer(cmd, uow)
            customer = await mark_reachable(customer, uow)
            return customer, await load_conversation(customer.ref, uow)

    async def _route(self, turn: Turn) -> None:
        event, seen = turn.event, turn.customer.notice_version_seen
        if seen != self.core.policy.notice_version and not _is_press(event):
            # Informed consent first: a new customer, or a changed notice.
            await (consent.start(turn) if seen is None else consent.renotice(turn))
            return
        if event.kind is EventKind.COMMAND:
            await COMMANDS.get(event.text, help.not_understood)(turn)
        elif event.kind is EventKind.BUTTON:
            await self._press(turn)
        elif event.kind is EventKind.TEXT:
            await self._text(turn)
        elif event.kind is EventKind.CONTACT:
            await rights.on_contact(turn)
        else:
            turn.say(turn.t("unsupported.text"))

    async def _press(self, turn: Turn) -> None:
        press = parse_press(turn.event.data)
        if press is None or not turn.knows(press) or press.action not in PRESSES:
            log.info("refused button customer=%s", turn.customer.ref)
            turn.notify(turn.t("button.expired"), alert=True)
            return
        await PRESSES[press.action](turn, press)

    async def _text(self, turn: Turn) -> None:
        if await survey.on_survey_text(turn) or await rights.on_rights_text(turn):
            return
        command = route_for(turn.event.text)
        await COMMANDS.get(command or "", help.not_understood)(turn)

    def _group_reply(self, event: Incoming) -> Outcome:
        if event.kind is not EventKind.COMMAND:
            return Outcome()  # chatter in a group is not for us
        t = Translator(locale_for(event.language_code))
        return Outcome(replies=[Reply(text=t("group.private_only"))])


def _is_press(event: Incoming) -> bool:
    return event.kind is EventKind.BUTTON


def _known(turn: Turn, error: PrivacyError) -> bool:
    key = f"error.{error.code}"
    return turn.t(key) != key
