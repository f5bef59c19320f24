"""A person on WhatsApp: ``privacy-bot run`` (in-process) with only WhatsApp configured,
the fake Cloud API answering the bot, and webhook posts signed as Meta signs them."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import ClientSession

from bot.channels.whatsapp import ABOVE, sign
from bot.runner import run_bot
from bot.settings import BotSettings, WhatsAppSettings
from core.app import PrivacyCore
from tests.chat_drivers import Msg, Processed, find_button, free_port
from tests.fake_whatsapp import APP_SECRET, PHONE_NUMBER_ID, FakeWhatsApp

__all__ = ["WhatsAppBot", "WhatsAppDriver", "webhook_body"]

_ids = itertools.count(1)


def _now() -> str:
    """Meta's timestamp: the message's own time, in unix seconds."""
    return str(int(time.time()))


def webhook_body(wa_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """One message as the Cloud API's webhook carries it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "85230001000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Test"}, "wa_id": wa_id}],
        "messages": [
            {"from": wa_id, "id": f"wamid.in.{next(_ids)}", "timestamp": _now(), **message}
        ],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


class WhatsAppBot:
    """The running bot (one per test), reachable on its HTTP port."""

    def __init__(self, core: PrivacyCore, fake: FakeWhatsApp, processed: Processed) -> None:
        self.core, self.fake, self.processed = core, fake, processed
        self.http_port = free_port()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.http: ClientSession | None = None

    def settings(self, **overrides: Any) -> BotSettings:
        whatsapp = WhatsAppSettings.from_env(self.fake.env())
        values: dict[str, Any] = {
            "core": self.core.settings,
            "token": None,
            "api_base": "http://unused",
            "webhook_url": None,
            "webhook_secret": None,
            "http_host": "127.0.0.1",
            "http_port": self.http_port,
            "followup_delay": 3600,
            "whatsapp": whatsapp,
        }
        values.update(overrides)
        return BotSettings(**values)

    async def start(self, **overrides: Any) -> WhatsAppBot:
        self._task = asyncio.create_task(
            run_bot(self.core, self.settings(**overrides), stop=self._stop)
        )
        self.http = ClientSession()
        async with asyncio.timeout(30):
            while True:
                try:
                    async with self.http.get(self.url("/healthz")) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                await asyncio.sleep(0.02)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    async def post(self, body: bytes, signature: str | None = None) -> int:
        assert self.http is not None
        headers = {"Content-Type": "application/json"}
        headers["X-Hub-Signature-256"] = (
            signature if signature is not None else sign(APP_SECRET, body)
        )
        async with self.http.post(self.url("/whatsapp/webhook"), data=body, headers=headers) as r:
            return r.status

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=60)
        if self.http is not None:
            await self.http.close()


class WhatsAppDriver:
    """A customer writing to the shop's WhatsApp number."""

    channel = "whatsapp"

    def __init__(self, bot: WhatsAppBot, wa_id: str) -> None:
        self.bot, self.wa_id = bot, wa_id
        self.user_id = int(wa_id)
        self.notice: str | None = None

    async def deliver(self, message: dict[str, Any]) -> dict[str, Any]:
        """Post one message; wait until the bot has answered it. The body, to redeliver."""
        body = webhook_body(self.wa_id, message)
        await self.redeliver(body)
        return body

    async def redeliver(self, body: dict[str, Any]) -> None:
        before = self.bot.processed.count + 1
        assert await self.bot.post(json.dumps(body).encode()) == 200
        await self.bot.processed.wait_for(before)

    async def send(self, text: str) -> None:
        await self.deliver({"type": "text", "text": {"body": text}})

    async def press(self, label: str) -> None:
        _, data = find_button(self.messages, label)
        await self.press_raw(data, None)

    async def press_raw(self, data: str, message_id: int | None) -> None:
        """A choice; ``notice`` is then the first text it brought (where Telegram shows
        a toast, WhatsApp gets a message)."""
        before = len(self.bot.fake.messages(self.wa_id))
        reply = {"type": "button_reply", "button_reply": {"id": data, "title": "x"}}
        await self.deliver({"type": "interactive", "interactive": reply})
        answers = self.bot.fake.messages(self.wa_id)[before:]
        self.notice = _msg(0, answers[0].message, self.bot.fake).text if answers else None

    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> None:
        wa_id = str(contact_user_id or self.user_id)
        card = {"name": {"formatted_name": "Me"}, "phones": [{"phone": phone, "wa_id": wa_id}]}
        await self.deliver({"type": "contacts", "contacts": [card]})

    async def close(self) -> None:
        return None

    @property
    def messages(self) -> list[Msg]:
        """The chat as the person reads it: choices that point up (a long screen) carry
        the text just above them."""
        shown: list[Msg] = []
        for n, sent in enumerate(self.bot.fake.messages(self.wa_id)):
            msg = _msg(n, sent.message, self.bot.fake)
            if msg.text == ABOVE and shown and not shown[-1].buttons:
                msg = Msg(n, shown.pop().text, msg.buttons)
            shown.append(msg)
        return shown


def _msg(n: int, message: dict[str, Any], fake: FakeWhatsApp) -> Msg:
    kind = message.get("type")
    if kind == "text":
        return Msg(n, message["text"]["body"])
    if kind == "interactive":
        interactive = message["interactive"]
        action = interactive["action"]
        if interactive["type"] == "button":
            buttons = [(b["reply"]["title"], b["reply"]["id"]) for b in action["buttons"]]
        else:
            rows = [r for s in action["sections"] for r in s["rows"]]
            buttons = [(r.get("description") or r["title"], r["id"]) for r in rows]
        return Msg(n, interactive["body"]["text"], buttons)
    if kind in ("document", "image"):
        media = message[kind]
        name, _, data = fake.media[media["id"]]
        return Msg(n, media.get("caption", ""), [], (name, data))
    return Msg(n, json.dumps(message))
