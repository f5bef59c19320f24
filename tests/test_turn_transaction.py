"""A customer's turn is one transaction, opened and committed by the flow engine."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.conversation.engine import FlowEngine
from bot.conversation.events import EventKind, Incoming, Outcome
from bot.conversation.followup import mark_state
from bot.conversation.turn import merged_state
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import (
    SaveConversation,
    current_consents,
    find_customer,
    load_conversation,
    save_conversation,
)
from core.storage import UnitOfWork
from tests.transactions import counting

ALICE = 9301
en = Translator("en")


def _event(kind: EventKind, **fields: Any) -> Incoming:
    return Incoming(user_id=ALICE, chat_id=ALICE, kind=kind, channel="console", **fields)


def _marketing_toggle(outcome: Outcome) -> str:
    for reply in reversed(outcome.replies):
        for (button,) in reply.buttons:
            if en("purpose.marketing.title") in button.text:
                return button.data
    raise AssertionError("no marketing button in the reply")


async def _started(engine: FlowEngine) -> str:
    return _marketing_toggle(await engine.handle(_event(EventKind.COMMAND, text="start")))


async def test_a_consent_press_is_one_transaction(core: PrivacyCore) -> None:
    engine = FlowEngine(core)
    toggle = await _started(engine)
    with counting(core) as counted:
        outcome = await engine.handle(_event(EventKind.BUTTON, data=toggle, message_id=1))
    assert outcome.notice == en("consent.decision.given")
    assert (counted.transactions, counted.commits) == (1, 1)


async def test_a_consent_press_reads_the_customer_once(core: PrivacyCore) -> None:
    engine = FlowEngine(core)
    toggle = await _started(engine)
    with counting(core) as counted:
        await engine.handle(_event(EventKind.BUTTON, data=toggle, message_id=1))
    # the customer with key, identities and conversation; their consents; the ledger
    # entry; the audit head (read, move) and entry; the conversation saved (the
    # customer's row too, when their last activity is over a minute old). PostgreSQL
    # locks the customer's row in a statement of its own first.
    most = 7 if core.db.is_sqlite else 8
    assert len(counted.statements) <= most, counted.statements


async def test_a_read_only_privacy_is_one_transaction(core: PrivacyCore) -> None:
    engine = FlowEngine(core)
    await _started(engine)
    with counting(core) as counted:
        outcome = await engine.handle(_event(EventKind.COMMAND, text="privacy"))
    assert outcome.replies[-1].text.startswith(en("privacy.title"))  # after the policy
    assert (counted.transactions, counted.commits) == (1, 1)


async def test_a_refused_action_is_undone_but_its_denial_and_the_turn_are_kept(
    core: PrivacyCore,
) -> None:
    engine = FlowEngine(core)
    toggle = await _started(engine)
    async with core.uow() as uow:  # Alice objected to direct marketing meanwhile
        alice = await find_customer(IdentityKind.TELEGRAM, str(ALICE), uow)
        assert alice is not None
        alice.flags = replace(alice.flags, objected_marketing=True)
        await uow.customers.save(alice)
        await uow.commit()
    with counting(core) as counted:
        outcome = await engine.handle(_event(EventKind.BUTTON, data=toggle, message_id=1))
    assert outcome.replies[-1].text == en("error.objected")
    assert counted.commits == 1
    async with core.uow() as uow:
        assert "marketing" not in await current_consents(alice.ref, uow)
        entries = await uow.audit.about(alice.ref)
    denied = [e for e in entries if e.outcome == "denied"]
    assert [(e.action, e.details) for e in denied] == [("consent.given", {"reason": "objected"})]


async def test_a_refused_turn_keeps_a_followup_keyboard_saved_while_it_let_go(
    core: PrivacyCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal's rollback lets go of the customer's row; a follow-up's token saved
    by the worker in that gap must survive the turn's own save."""
    engine = FlowEngine(core)
    toggle = await _started(engine)
    async with core.uow() as uow:  # the press will be refused: Alice objected
        alice = await find_customer(IdentityKind.TELEGRAM, str(ALICE), uow)
        assert alice is not None
        alice.flags = replace(alice.flags, objected_marketing=True)
        await uow.customers.save(alice)
        await uow.commit()
    rollback = UnitOfWork.rollback

    async def rollback_then_worker_saves_a_token(uow: UnitOfWork) -> None:
        await rollback(uow)
        monkeypatch.setattr(UnitOfWork, "rollback", rollback)
        async with core.uow() as other:  # what start_followup does, in the gap
            state = await load_conversation(alice.ref, other)
            mark_state(state, "FOLLOWUP", "A-1")
            await save_conversation(SaveConversation(alice.ref, state), other)
            await other.commit()

    monkeypatch.setattr(UnitOfWork, "rollback", rollback_then_worker_saves_a_token)
    outcome = await engine.handle(_event(EventKind.BUTTON, data=toggle, message_id=1))
    assert outcome.replies[-1].text == en("error.objected")
    async with core.uow() as uow:
        state = await load_conversation(alice.ref, uow)
    assert "FOLLOWUP:fa.fx" in state["kb"]
    assert state["followup"] == {"order": "A-1", "q": 0}


def test_a_turns_changes_are_laid_over_a_state_written_meanwhile() -> None:
    base = {"kb": ["a", "b"], "survey": {"q": 1}, "gone": 1}
    ours = {"kb": ["a", "b", "c"], "survey": {"q": 2}}
    theirs = {"kb": ["a", "b", "w"], "survey": {"q": 1}, "gone": 1, "followup": {"q": 0}}
    assert merged_state(base, ours, theirs) == {
        "kb": ["a", "b", "c", "w"],
        "survey": {"q": 2},
        "followup": {"q": 0},
    }
