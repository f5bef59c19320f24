"""The flow engine: one conversation logic for every channel.

One event is one turn and one transaction: the engine serialises each person's
events, opens the turn's unit of work, offers the event to the staff desk, else
finds (or registers) the customer with their saved conversation state, routes the
event by the route map (bot/conversation/routes.py), saves the state and commits
once. Flows use ``turn.uow`` and never commit. Channels do the rest.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import traceback
import weakref
from typing import Any

from bot.conversation import consent, help, requests, rights, staff, survey
from bot.conversation.events import WHATSAPP, EventKind, Incoming, Outcome, Reply
from bot.conversation.intents import route_for
from bot.conversation.routes import RouteMap, build_route_map
from bot.conversation.turn import Turn, merged_state, parse_press
from bot.render.i18n import Translator, locale_for
from core.app import PrivacyCore
from core.domain.customer import Customer, IdentityKind
from core.domain.survey import Survey, load_survey
from core.errors import NotFound, PrivacyError
from core.services import (
    RegisterCustomer,
    SaveConversation,
    load_conversation,
    register_customer,
    save_conversation,
)
from core.services.customers import (
    ReportBlocked,
    erased_before,
    mark_reachable,
    note_message,
    report_blocked,
)
from core.services.inbound import FirstDelivery, first_delivery
from core.storage import UnitOfWork

__all__ = ["FlowEngine"]

log = logging.getLogger("bot.conversation")

# At most this many turns at once: aiogram runs updates concurrently, and a burst
# of them must queue here rather than exhaust the database connection pool.
MAX_CONCURRENT_TURNS = 8


class FlowEngine:
    def __init__(
        self, core: PrivacyCore, survey_def: Survey | None = None, routes: RouteMap | None = None
    ) -> None:
        self.core = core
        self.routes = routes or build_route_map()  # a clash stops the start here
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
                await uow.commit()
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
        """One turn, one transaction: opened here, committed once at its end."""
        async with self.core.uow() as uow:
            if event.platform_id is not None and not await first_delivery(
                FirstDelivery(event.channel, event.platform_id), uow
            ):
                return Outcome()  # a redelivery of a message handled already
            # The desk first (staff work on Telegram); None: the customers' business.
            outcome = None
            if event.channel != WHATSAPP:
                outcome = await staff.dispatch(self.routes, self.core, event, uow)
            if outcome is None:
                outcome = await self._customer_turn(event, uow)
            await uow.commit()
        return outcome

    async def _customer_turn(self, event: Incoming, uow: UnitOfWork) -> Outcome:
        try:
            customer, state, came_back = await self._customer(event, uow)
        except NotFound:
            if not _is_press(event):
                raise
            # A press from someone who never wrote: nobody to register.
            t = Translator(locale_for(event.language_code))
            return Outcome(notice=t("button.expired"), alert=True)
        loaded = copy.deepcopy(state)
        turn = Turn(self.core, event, customer, state, self.survey, uow)
        log.info("event kind=%s customer=%s", event.kind, customer.ref)
        if came_back:
            turn.say(turn.t("start.after_erasure"))  # before anything else they read
        try:
            await self._route(turn)
        except PrivacyError as error:
            log.info("refused code=%s customer=%s", error.code, customer.ref)
            # Drop what the refused action began (its denial is written at commit),
            # then redo the turn's own bookkeeping. Refusals are rare: the common
            # path pays for no savepoint. The rollback let go of the customer's row,
            # so their state may have been written meanwhile (a follow-up's
            # keyboard): the turn's changes are laid over what is there now.
            await uow.rollback()
            turn.customer, now, _ = await self._customer(event, uow)
            turn.state = merged_state(loaded, turn.state, now)
            turn.say(
                turn.t(f"error.{error.code}") if _known(turn, error) else turn.t("error.generic")
            )
        await save_conversation(SaveConversation(turn.customer.ref, turn.state), uow)
        return turn.outcome

    async def _customer(
        self, event: Incoming, uow: UnitOfWork
    ) -> tuple[Customer, dict[str, Any], bool]:
        """The customer (registered at first contact), their saved conversation state, and
        whether they are new here after an erasure of their earlier data."""
        cmd = RegisterCustomer(
            IdentityKind.WHATSAPP if event.channel == WHATSAPP else IdentityKind.TELEGRAM,
            str(event.user_id),
            language=locale_for(event.language_code),
            channel=event.channel,
            create=not _is_press(event),  # only a real message is a first contact
        )
        customer, created = await register_customer(cmd, uow)
        came_back = created and await erased_before(customer.ref, uow)
        customer = await mark_reachable(customer, uow)
        if event.channel == WHATSAPP:  # a press is a message there too
            # WhatsApp's 24-hour window runs from the message's own time.
            customer = await note_message(customer, uow, event.sent_at)
        return customer, await load_conversation(customer.ref, uow), came_back

    async def _route(self, turn: Turn) -> None:
        event, seen = turn.event, turn.customer.notice_version_seen
        if seen != self.core.policy.notice_version and not _is_press(event):
            # Informed consent first: a new customer, or a changed notice.
            await (consent.start(turn) if seen is None else consent.renotice(turn))
            return
        if event.kind is EventKind.COMMAND:
            _leave_typed_flows(turn)
            await self.routes.commands.get(event.text, help.not_understood)(turn)
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
        handler = self.routes.buttons.get(press.action) if press else None
        if press is None or handler is None or not turn.knows(press):
            log.info("refused button customer=%s", turn.customer.ref)
            offered = press is not None and turn.offer_last_keyboard(turn.t("button.offer_last"))
            turn.notify(turn.t("button.expired"), alert=not offered)
            return
        await handler(turn, press)

    async def _text(self, turn: Turn) -> None:
        command = route_for(turn.event.text)
        if command is not None and "rights" not in turn.state:
            # An intent about their rights wins over an open question (the survey keeps
            # its place); only a value being typed for a correction is taken as typed.
            _leave_typed_flows(turn)
            await self.routes.commands[command](turn)
            return
        if (
            await survey.on_survey_text(turn)
            or await rights.on_rights_text(turn)
            or await requests.on_answer_text(turn)
        ):
            return
        await self.routes.commands.get(command or "", help.not_understood)(turn)

    def _group_reply(self, event: Incoming) -> Outcome:
        if event.kind is not EventKind.COMMAND:
            return Outcome()  # chatter in a group is not for us
        t = Translator(locale_for(event.language_code))
        return Outcome(replies=[Reply(text=t("group.private_only"))])


def _leave_typed_flows(turn: Turn) -> None:
    """A command ends whatever waited for typed text ("any command cancels"); a survey
    under way is kept where it stood, and /survey offers to continue it."""
    turn.state.pop("rights", None)
    turn.state.pop("answer", None)
    if turn.event.text != "survey":
        survey.leave(turn)


def _is_press(event: Incoming) -> bool:
    return event.kind is EventKind.BUTTON


def _known(turn: Turn, error: PrivacyError) -> bool:
    key = f"error.{error.code}"
    return turn.t(key) != key
