"""The one outbound path: Telegram's limits kept, 429/5xx/timeouts survived, nothing twice."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from bot.conversation.events import Reply
from bot.http.metrics import Metrics
from bot.outbound import Outbound, OutboundConfig, SendKind, SharedBudget
from core.app import PrivacyCore, open_core
from core.services.outreach.followups import Delivery
from core.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.outbound_support import real_sender

AT_MOST_ONCE = [SendKind.FOLLOWUP, SendKind.EXPORT, SendKind.REPLY]
HI = Reply(text="hi")


def delivered(fake: FakeTelegram, chat_id: int) -> int:
    """Messages now in the chat, including one whose answer the bot never got."""
    return len(fake.messages(chat_id))


def arrivals(fake: FakeTelegram, method: str = "sendMessage") -> list[float]:
    return sorted(c.at for c in fake.calls_to(method) if c.ok)


def most_in_one_second(times: list[float]) -> int:
    return max((sum(1 for t in times if a <= t < a + 1.0) for a in times), default=0)


@dataclass
class RecordingMarker:
    """What an at-most-once send records around each attempt, and when."""

    going: bool = True
    events: list[tuple[str, float]] = field(default_factory=list)

    async def sending(self) -> bool:
        self.events.append(("sending", time.monotonic()))
        return self.going

    async def not_sent(self) -> None:
        self.events.append(("not_sent", time.monotonic()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]


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


async def test_a_429_pauses_every_send_for_its_retry_after_and_loses_nothing(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.fail_next("sendMessage", 429, times=1, retry_after=2)
    async with real_sender(framework, fake_telegram) as sender:
        outbound = Outbound(sender)
        results = await asyncio.gather(
            *(outbound.send(100 + i, HI, SendKind.NOTICE) for i in range(6))
        )
    [refused] = [c for c in fake_telegram.calls_to("sendMessage") if c.status == 429]
    assert results == [Delivery.SENT] * 6
    assert all(delivered(fake_telegram, 100 + i) == 1 for i in range(6))
    # Only what had already left when the 429 came back arrives within the pause.
    assert [t for t in arrivals(fake_telegram) if refused.at + 0.05 < t < refused.at + 2.0] == []


async def test_a_429_seen_by_one_process_pauses_the_others(
    core: PrivacyCore, settings: Settings, fake_telegram: FakeTelegram
) -> None:
    other = await open_core(settings)
    fake_telegram.fail_next("sendMessage", 429, times=1, retry_after=2)
    try:
        async with real_sender("aiogram", fake_telegram) as sender:
            config = OutboundConfig()
            first = Outbound(sender, config, budget=SharedBudget(core, config))
            second = Outbound(sender, config, budget=SharedBudget(other, config))
            assert await first.send(1, HI, SendKind.NOTICE) is Delivery.SENT  # after its 429
            [refused] = [c for c in fake_telegram.calls_to("sendMessage") if c.status == 429]
            assert await second.send(2, HI, SendKind.NOTICE) is Delivery.SENT
    finally:
        await other.close()
    assert min(arrivals(fake_telegram)) >= refused.at + 2.0


async def test_a_429_on_an_export_document_is_waited_out(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.fail_next("sendDocument", 429, times=1, retry_after=1)
    document = Reply(text="your copy", document=("my-data.zip", b"PK\x03\x04"))
    marker = RecordingMarker()
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(7, document, SendKind.EXPORT, marker=marker)
    assert result is Delivery.SENT
    assert len(arrivals(fake_telegram, "sendDocument")) == 1
    # The marker said "not sent" while it waited: a crash then is no "maybe delivered".
    assert marker.names == ["sending", "not_sent", "sending"]


async def test_every_kind_of_message_counts_against_one_budget(
    fake_telegram: FakeTelegram,
) -> None:
    kinds = [SendKind.REPLY, SendKind.FOLLOWUP, SendKind.EXPORT, SendKind.NOTICE, SendKind.STAFF]
    async with real_sender("aiogram", fake_telegram) as sender:
        outbound = Outbound(sender, OutboundConfig(per_second=2))
        sends = [outbound.send(50 + n, HI, kind) for n, kind in enumerate(kinds * 2)]
        assert await asyncio.gather(*sends) == [Delivery.SENT] * 10
    assert most_in_one_second(arrivals(fake_telegram)) <= 2


async def test_a_reply_goes_ahead_of_follow_ups_already_waiting(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.enforce_rate_limits(30, 1)
    async with real_sender("aiogram", fake_telegram) as sender:
        outbound = Outbound(sender)
        bulk = [
            asyncio.create_task(outbound.send(1000 + n, HI, SendKind.FOLLOWUP)) for n in range(90)
        ]
        await asyncio.sleep(0.3)
        asked = time.monotonic()
        assert await outbound.send(5, Reply(text="your answer"), SendKind.REPLY) is Delivery.SENT
        answered = time.monotonic()
        await asyncio.gather(*bulk)
    assert answered - asked < 0.5  # not behind the 80 follow-ups still waiting
    assert fake_telegram.rate_limited_count == 0


async def test_the_marker_is_written_only_once_the_permit_is_granted(
    fake_telegram: FakeTelegram,
) -> None:
    marker = RecordingMarker()
    async with real_sender("aiogram", fake_telegram) as sender:
        outbound = Outbound(sender, OutboundConfig(per_second=1))
        assert await outbound.send(1, HI, SendKind.NOTICE) is Delivery.SENT
        queued = time.monotonic()
        assert await outbound.send(2, HI, SendKind.FOLLOWUP, marker=marker) is Delivery.SENT
    [(_, marked)] = marker.events
    # It waited unmarked for its permit, marked at most the lead before it frees.
    assert marked - queued >= 1.0 - OutboundConfig().lead - 0.05


async def test_a_send_its_marker_calls_off_sends_nothing_and_frees_its_permit(
    fake_telegram: FakeTelegram,
) -> None:
    async with real_sender("aiogram", fake_telegram) as sender:
        outbound = Outbound(sender, OutboundConfig(per_second=1))
        called_off = RecordingMarker(going=False)
        assert await outbound.send(1, HI, SendKind.FOLLOWUP, marker=called_off) is (
            Delivery.CALLED_OFF
        )
        started = time.monotonic()
        assert await outbound.send(2, HI, SendKind.FOLLOWUP) is Delivery.SENT
    assert time.monotonic() - started < 0.5
    assert delivered(fake_telegram, 1) == 0


async def test_server_errors_are_retried_and_delivered_once(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.fail_next("sendMessage", 500, times=3)
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(200, HI, SendKind.FOLLOWUP)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 200) == 1


@pytest.mark.parametrize("kind", AT_MOST_ONCE)
async def test_a_lost_answer_is_not_resent_for_kinds_that_must_not_arrive_twice(
    fake_telegram: FakeTelegram, kind: SendKind
) -> None:
    # The message is delivered but the answer is lost: resending would duplicate it.
    fake_telegram.drop_next("sendMessage", after_processing=True)
    async with real_sender("aiogram", fake_telegram) as sender:
        result = await Outbound(sender).send(300, HI, kind)
    assert result is Delivery.UNKNOWN
    assert delivered(fake_telegram, 300) == 1


async def test_lost_request_is_retried_when_the_message_must_arrive(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.drop_next("sendMessage")  # dropped before Telegram processed it
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(400, HI, SendKind.NOTICE)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 400) == 1


async def test_slow_answer_within_the_timeout_is_just_slow(fake_telegram: FakeTelegram) -> None:
    fake_telegram.delay_next("sendMessage", 1.0)
    async with real_sender("ptb", fake_telegram) as sender:
        result = await Outbound(sender).send(500, HI, SendKind.FOLLOWUP)
    assert result is Delivery.SENT
    assert delivered(fake_telegram, 500) == 1


async def test_blocked_user_is_reported_and_not_retried(
    fake_telegram: FakeTelegram, framework: str
) -> None:
    fake_telegram.block_user(600)
    async with real_sender(framework, fake_telegram) as sender:
        result = await Outbound(sender).send(600, HI, SendKind.NOTICE)
    assert result is Delivery.BLOCKED
    assert len(fake_telegram.calls_to("sendMessage")) == 1


async def test_a_rejected_message_is_not_retried(fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("sendMessage", 400, times=1)
    async with real_sender("aiogram", fake_telegram) as sender:
        result = await Outbound(sender).send(700, HI, SendKind.NOTICE)
    assert result is Delivery.REJECTED
    assert len(fake_telegram.calls_to("sendMessage")) == 1


async def test_metrics_show_sends_by_kind_and_outcome_429s_pause_and_queue_depth(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.fail_next("sendMessage", 429, times=1, retry_after=2)
    metrics = Metrics()
    async with real_sender("aiogram", fake_telegram) as sender:
        outbound = Outbound(sender, OutboundConfig(per_second=1), metrics=metrics)
        sends = [asyncio.create_task(outbound.send(n, HI, SendKind.FOLLOWUP)) for n in (1, 2, 3)]
        while not fake_telegram.calls_to("sendMessage"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        during = metrics.render()
        await asyncio.gather(*sends)
    after = metrics.render()
    assert 'privacy_outbound_queue{priority="bulk"} 3' in during  # the refused one too
    assert "privacy_outbound_pause_seconds 1." in during
    assert 'privacy_outbound_429_total{kind="followup"} 1' in after
    assert (
        'privacy_outbound_sends_total{channel="telegram",kind="followup",outcome="sent"} 3' in after
    )
