"""Proactive sends: Telegram's limits kept, 429/5xx/timeouts survived, nothing twice."""

from __future__ import annotations

import asyncio

from bot.outbound import Outbound, OutboundConfig, SendKind

from bot.conversation.events import Reply
from core.services.outreach.followups import Delivery
from tests.fake_telegram import FakeTelegram
from tests.outbound_support import real_sender


def delivered(fake: FakeTelegram, chat_id: int) -> int:
    """Messages now in the chat, including one whose answer the bot never got."""
    return len(fake.messages(chat_id))


async def test_300_messages_under_enforced_limits_get_no_429_and_arrive_once(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.enforce_rate_limits(30, 1)
    chats = [9000 + i for i in range(150)]
    async with real_sender("ptb", fake_telegram) as sender:
        outbound = Outbound(sender, OutboundConfig())
        sends = [
            outbound.send(chat, Reply(text=f"follow-up {n}"), SendKind.FOLLOWUP)
            for n in range(2)
            for chat in chats
        ]
        results = await asyncio.gather(*sends)
    assert results == [Delivery.SENT] * 300
    assert fake_telegram.rate_limited_count == 0
    assert all(delivered(fake_telegram, chat) == 2 for chat in chats)


async def test_429_storm_delays_but_loses_and_duplicates_nothing(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.fail_next("sendMessage", 429, times=15, retry_after=1)
    async with real_sender(framework, fake_telegram) as sender:
        outbound = Outbound(sender)
        results = await asyncio.gather(
            *(outbound.send(100 + i, Reply(text="hi"), SendKind.FOLLOWUP) for i in range(10))
        )
    assert results == [Delivery.SENT] * 10
    assert all(delivered(fake_telegram, 100 + i) == 1 for i in range(10))


async def test_server_errors_are_retried_and_delivered_once(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.fail_next("sendMessage", 500, times=3)
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(200, Reply(text="hi"), SendKind.FOLLOWUP)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 200) == 1


async def test_lost_answer_is_not_resent_when_duplicates_must_not_happen(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    # The message is delivered but the answer is lost: resending would duplicate it.
    fake_telegram.drop_next("sendMessage", after_processing=True)
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(300, Reply(text="hi"), SendKind.FOLLOWUP)
    assert result is Delivery.UNKNOWN
    assert delivered(fake_telegram, 300) == 1


async def test_lost_request_is_retried_when_the_message_must_arrive(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.drop_next("sendMessage")  # dropped before Telegram processed it
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(400, Reply(text="hi"), SendKind.NOTICE)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 400) == 1


async def test_slow_answer_within_the_timeout_is_just_slow(fake_telegram: FakeTelegram) -> None:
    fake_telegram.delay_next("sendMessage", 1.0)
    async with real_sender("ptb", fake_telegram) as sender:
        result = await Outbound(sender).send(500, Reply(text="hi"), SendKind.FOLLOWUP)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 500) == 1


async def test_blocked_user_is_reported_and_not_retried(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.block_user(600)
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(600, Reply(text="hi"), SendKind.FOLLOWUP)
    assert result is Delivery.BLOCKED
    assert len(fake_telegram.calls_to("sendMessage")) == 1
