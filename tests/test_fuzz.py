"""Fuzz: generated updates and button payloads through both adapters' parsing and the flows.

Callback data is untrusted bytes from a possibly modified client. Over 10,000
generated inputs in total: the shared translation (``incoming_from_update``),
aiogram's and python-telegram-bot's own parsing, and ``FlowEngine.handle`` on a
real core (SQLite) must never raise, and a forged or malformed button press must
change nothing (consent ledger and audit log as they were).

Most inputs are invalid, which is cheap (no database writes); one core is opened
for the module and reused, on its own event loop, so the file stays fast.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.channels.telegram import incoming_from_update
from bot.conversation import EventKind, FlowEngine, Incoming, Outcome
from bot.conversation.routes import build_route_map
from bot.conversation.turn import parse_press
from bot.render.i18n import Translator, locale_for
from core.app import PrivacyCore, open_core
from core.settings import Settings
from core.storage.tables import AuditEntryRow, ConsentRow

TOKEN = "123456:TEST-TOKEN"
CUSTOMER = 7001  # has pressed /start: owns live keyboards
OTHER = 7002  # another customer: their tokens are forged when CUSTOMER presses them
USER_POOL = (CUSTOMER, OTHER, 7003, 7004)  # few ids, so few customers get registered

FAST = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fast(examples: int) -> settings:
    return settings(FAST, max_examples=examples)


# ---------------------------------------------------------------- the shared core


@dataclass
class World:
    runner: asyncio.Runner
    core: PrivacyCore
    engine: FlowEngine
    tokens: dict[int, list[str]]  # live keyboard tokens per customer

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)


async def _open(tmp: Path) -> tuple[PrivacyCore, FlowEngine, dict[int, list[str]]]:
    core = await open_core(
        Settings(
            data_dir=tmp / "data",
            database_url=f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}",
            master_key=None,
            policy_file=None,
        )
    )
    engine = FlowEngine(core)
    tokens: dict[int, list[str]] = {}
    for uid in (CUSTOMER, OTHER):
        outcome = await engine.handle(_event(uid, EventKind.COMMAND, text="start"))
        tokens[uid] = sorted({b.data.split("|")[0] for b in _buttons(outcome)})
    return core, engine, tokens


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runner = asyncio.Runner()
    core, engine, tokens = runner.run(_open(tmp_path_factory.mktemp("fuzz")))
    try:
        yield World(runner, core, engine, tokens)
    finally:
        runner.run(core.close())
        runner.close()


@pytest.fixture(scope="module")
def aiogram_bot() -> Any:
    from aiogram import Bot

    return Bot(TOKEN)


@pytest.fixture(scope="module")
def ptb_bot() -> Any:
    from telegram import Bot

    return Bot(TOKEN)


def _event(uid: int, kind: EventKind, **fields: Any) -> Incoming:
    return Incoming(user_id=uid, chat_id=uid, kind=kind, **fields)


def _buttons(outcome: Outcome) -> list[Any]:
    return [b for reply in outcome.replies for row in reply.buttons for b in row]


async def _ledger(core: PrivacyCore) -> tuple[int, int]:
    async with core.db.session() as session:
        consents = await session.scalar(select(func.count()).select_from(ConsentRow))
        audit = await session.scalar(select(func.count()).select_from(AuditEntryRow))
    return int(consents or 0), int(audit or 0)


# ---------------------------------------------------------------- strategies

_SAFE = string.ascii_letters + string.digits + "_-"
PRESSES = build_route_map().buttons
_ACTIONS = sorted(PRESSES)
_UNKNOWN_ACTIONS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=4).filter(
    lambda a: a not in PRESSES
)
_junk = st.one_of(
    st.text(max_size=80),
    st.text(_SAFE + "|:.*", max_size=70),
    st.binary(max_size=80).map(lambda b: b.decode("utf-8", "replace")),
    st.sampled_from(["", "|", "||", "|cs|", "\x00", "🙂" * 20, "a" * 65, "A" * 8 + "|cs|"]),
)
_bad_consent_arg = st.one_of(
    st.text(_SAFE + ":.*", max_size=48),
    st.sampled_from(["marketing:2", "service:1", "nosuch:1", "marketing", ":1", "marketing:"]),
)


def _forged_token(world_tokens: dict[int, list[str]]) -> st.SearchStrategy[str]:
    own = set(world_tokens.get(CUSTOMER, []))
    return st.one_of(
        st.text(_SAFE, min_size=8, max_size=8).filter(lambda t: t not in own),
        st.sampled_from([t for t in world_tokens.get(OTHER, []) if t not in own] or ["ZZZZZZZZ"]),
    )


def forged_payloads(world_tokens: dict[int, list[str]]) -> st.SearchStrategy[str]:
    """Button data a modified client could send that must be refused without effect."""
    own = st.sampled_from(world_tokens[CUSTOMER])
    return st.one_of(
        _junk,
        # Well-formed, but a token this customer was never given (or someone else's).
        st.builds(
            lambda t, a, arg: f"{t}|{a}|{arg}",
            _forged_token(world_tokens),
            st.sampled_from(_ACTIONS),
            st.text(_SAFE + ":", max_size=20),
        ),
        # The customer's own live token, with an action or argument that isn't real.
        st.builds(lambda t, a: f"{t}|{a}|x", own, _UNKNOWN_ACTIONS),
        st.builds(lambda t, arg: f"{t}|cs|{arg}", own, _bad_consent_arg),
    )


_ids = st.integers(min_value=-(2**52), max_value=2**52)
_user_ids = st.one_of(st.sampled_from(USER_POOL), st.integers(1, 2**40))


@st.composite
def users(draw: st.DrawFn, uid: st.SearchStrategy[int] = _user_ids) -> dict[str, Any]:
    user: dict[str, Any] = {"id": draw(uid), "is_bot": draw(st.booleans()), "first_name": "F"}
    if draw(st.booleans()):
        user["language_code"] = draw(
            st.one_of(st.sampled_from(["en", "zh-hans", "zh-hk", "zh", "de", ""]), st.text())
        )
    return user


@st.composite
def chats(draw: st.DrawFn, uid: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["private", "private", "group", "supergroup", "channel"]))
    chat_id = uid if kind == "private" else draw(_ids)
    return {"id": chat_id, "type": kind}


@st.composite
def messages(draw: st.DrawFn, uid: st.SearchStrategy[int] = _user_ids) -> dict[str, Any]:
    user = draw(users(uid))
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 2**31)),
        "date": draw(st.integers(0, 2**31)),
        "chat": draw(chats(user["id"])),
        "from": user,
    }
    content = draw(st.sampled_from(["text", "command", "contact", "sticker", "none"]))
    if content == "text":
        message["text"] = draw(st.text(max_size=300))
    elif content == "command":
        name = draw(st.one_of(st.sampled_from(["start", "help", "privacy", "x"]), st.text()))
        message["text"] = "/" + name + draw(st.sampled_from(["", "@bot", " args"]))
    elif content == "contact":
        message["contact"] = {"phone_number": draw(st.text(max_size=30)), "first_name": "C"}
        if draw(st.booleans()):
            message["contact"]["user_id"] = draw(st.one_of(st.just(user["id"]), _ids))
    elif content == "sticker":
        message["sticker"] = {
            "file_id": "f",
            "file_unique_id": "u",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        }
    return message


@st.composite
def callback_updates(
    draw: st.DrawFn, data: st.SearchStrategy[str], uid: st.SearchStrategy[int] = _user_ids
) -> dict[str, Any]:
    user = draw(users(uid))
    query: dict[str, Any] = {
        "id": str(draw(st.integers(0, 2**63))),
        "from": user,
        "chat_instance": "ci",
        "data": draw(data),
    }
    if draw(st.booleans()):
        query["message"] = {
            "message_id": draw(st.integers(1, 2**31)),
            "date": draw(st.sampled_from([0, 1_700_000_000])),
            "chat": draw(chats(user["id"])),
        }
    return {"update_id": draw(st.integers(1, 2**31)), "callback_query": query}


def updates(data: st.SearchStrategy[str] = _junk) -> st.SearchStrategy[dict[str, Any]]:
    wrap = st.sampled_from(["message", "edited_message"])
    return st.one_of(
        callback_updates(data),
        st.builds(lambda k, m, u: {"update_id": u, k: m}, wrap, messages(), st.integers(1, 2**31)),
        st.builds(lambda u: {"update_id": u, "poll_answer": {}}, st.integers(1, 2**31)),
    )


# ---------------------------------------------------------------- the parsing layers


def through_aiogram(raw: dict[str, Any], bot: Any) -> dict[str, Any] | None:
    """aiogram's own parsing, then the dump the adapter translates (None: refused)."""
    from aiogram.types import Update
    from pydantic import ValidationError

    try:
        update = Update.model_validate(raw, context={"bot": bot})
    except ValidationError:
        return None  # aiogram refuses it before any handler runs
    dumped: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def through_ptb(raw: dict[str, Any], bot: Any) -> dict[str, Any] | None:
    from telegram import Update

    try:
        update = Update.de_json(json.loads(json.dumps(raw)), bot)
    except (KeyError, TypeError, ValueError):
        return None  # PTB refuses it before any handler runs
    return None if update is None else update.to_dict()


def translations(raw: dict[str, Any], aiogram_bot: Any, ptb_bot: Any) -> list[Any]:
    """What each adapter would hand the flows; every layer must not raise."""
    results = [incoming_from_update(raw)]
    for parsed in (through_aiogram(raw, aiogram_bot), through_ptb(raw, ptb_bot)):
        if parsed is not None:
            results.append(incoming_from_update(parsed))
    return results


# ---------------------------------------------------------------- the tests


@fast(6000)
@given(data=st.one_of(_junk, st.text(_SAFE + "|:.*-", max_size=64)))
def test_payload_parser_accepts_only_well_formed_short_data(data: str) -> None:
    press = parse_press(data)
    if press is None:
        return
    assert len(data.encode()) <= 64
    assert f"{press.token}|{press.action}|{press.arg}" == data
    assert len(press.token) == 8


@fast(3500)
@given(raw=updates())
def test_updates_survive_both_frameworks_and_the_shared_translation(
    raw: dict[str, Any], aiogram_bot: Any, ptb_bot: Any
) -> None:
    for translated in translations(raw, aiogram_bot, ptb_bot):
        if translated is None:
            continue
        event, callback_id = translated
        assert isinstance(event, Incoming)
        if event.kind is EventKind.BUTTON:
            assert callback_id is not None


@pytest.fixture(scope="module")
def forged(world: World) -> st.SearchStrategy[str]:
    return forged_payloads(world.tokens)


def internal_errors() -> set[str]:
    return {Translator(locale_for(code))("error.internal") for code in ("en", "zh-hans", "zh-hk")}


def no_internal_error(outcome: Outcome) -> bool:
    failed = internal_errors()
    return not any(reply.text in failed for reply in outcome.replies)


@fast(300)
@given(data=st.data())
def test_forged_presses_change_nothing(
    data: st.DataObject, world: World, forged: st.SearchStrategy[str], aiogram_bot: Any
) -> None:
    payload = data.draw(forged)
    raw = data.draw(callback_updates(st.just(payload), st.just(CUSTOMER)))
    raw["callback_query"]["from"]["is_bot"] = False
    parsed = through_aiogram(raw, aiogram_bot)
    translated = incoming_from_update(parsed if parsed is not None else raw)
    assert translated is not None
    event = translated[0]
    before = world.run(_ledger(world.core))
    outcome = world.run(world.engine.handle(event))
    assert world.run(_ledger(world.core)) == before
    assert no_internal_error(outcome)
    if event.private:
        assert outcome.notice  # the spinner is answered ("expired"), nothing else


@fast(200)
@given(raw=updates(st.one_of(_junk, st.sampled_from(["AAAAAAAA|cs|marketing:1"]))))
def test_any_update_gets_through_the_flows_without_raising(
    raw: dict[str, Any], world: World, ptb_bot: Any
) -> None:
    parsed = through_ptb(raw, ptb_bot)
    translated = incoming_from_update(parsed if parsed is not None else raw)
    if translated is None:
        return
    event = translated[0]
    if event.user_id not in USER_POOL:
        event = Incoming(**{**event.__dict__, "user_id": USER_POOL[event.user_id % 4]})
    outcome = world.run(world.engine.handle(event))
    assert isinstance(outcome, Outcome)
    assert no_internal_error(outcome)
