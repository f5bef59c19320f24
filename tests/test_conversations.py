"""The customer's conversations, the same scenarios on the console, aiogram and PTB."""

from __future__ import annotations

import pytest

from core.app import PrivacyCore
from core.services import current_consents, survey_answers, verify_audit
from tests.chat_drivers import Driver
from tests.chat_fixtures import MakeChat, chat_customer

ALICE, BOB = 5001, 5002


@pytest.fixture
async def chat(make_chat: MakeChat) -> Driver:
    return await make_chat(ALICE)


async def customer_ref(core: PrivacyCore, user_id: int = ALICE) -> str:
    async with core.uow() as uow:
        customer = await chat_customer(user_id, uow)
    assert customer is not None
    return customer.ref


async def consents(core: PrivacyCore, user_id: int = ALICE) -> dict[str, bool]:
    ref = await customer_ref(core, user_id)
    async with core.uow() as uow:
        return {k: e.given for k, e in (await current_consents(ref, uow)).items()}


async def audit_count(core: PrivacyCore, user_id: int = ALICE) -> int:
    """Entries about this customer, after checking the whole chain verifies."""
    ref = await customer_ref(core, user_id)
    async with core.uow() as uow:
        result = await verify_audit(uow)
        about = await uow.audit.about(ref)
    assert result.ok, result.describe()
    return len(about)


def all_text(chat: Driver) -> str:
    return "\n".join(m.text for m in chat.messages)


async def test_start_shows_the_notice_and_an_unticked_button_per_consent_purpose(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    text = all_text(chat)
    assert "Privacy notice" in text
    assert "Your rights" in text
    keyboard = chat.messages[-1].labels()
    consent_purposes = [p.key for p in core.policy.consent_purposes(chat.channel)]
    assert len(keyboard) == len(consent_purposes)
    assert all(label.startswith(("☐", "📄")) for label in keyboard)  # 📄: asked on its own
    assert "Serving your orders" in chat.messages[-1].text  # explained, not a switch
    assert not any("Serving your orders" in label for label in keyboard)


async def test_tapping_a_purpose_gives_consent_and_sends_a_receipt(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.press("Offers and news")
    assert await consents(core) == {"marketing": True}
    receipt = chat.messages[-1].text
    assert "Receipt" in receipt
    assert "Consent given" in receipt
    assert core.policy.notice_version in receipt
    assert any(label.startswith("☑ Offers") for label in chat.messages[-2].labels())


async def test_tapping_again_withdraws_with_a_receipt(chat: Driver, core: PrivacyCore) -> None:
    await chat.send("/start")
    await chat.press("Offers and news")
    await chat.press("Offers and news")
    assert await consents(core) == {"marketing": False}
    assert "Consent withdrawn" in chat.messages[-1].text


async def test_privacy_shows_each_purpose_with_its_state_and_date(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.press("Statistics")
    await chat.send("/privacy")
    screen = chat.messages[-1].text
    assert "agreed on" in screen
    assert screen.count("not decided yet") == len(core.policy.consent_purposes(chat.channel)) - 1


async def test_every_consent_change_is_audited_and_the_chain_verifies(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    before = await audit_count(core)
    await chat.press("Follow-ups")
    await chat.press("Follow-ups")
    assert await audit_count(core) == before + 2


async def test_survey_records_single_multi_and_text_answers(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Monthly")
    await chat.press("Fashion")
    await chat.press("Home")
    await chat.press("Done")
    await chat.send("More vegan food, please")
    async with core.uow() as uow:
        answers = await survey_answers(await customer_ref(core), "preferences", uow)
    assert answers["frequency"].value == "monthly"
    assert answers["interests"].value == ("fashion", "home")
    assert answers["improve"].value == "More vegan food, please"
    assert "Fashion, Home" in chat.messages[-1].text
    assert await audit_count(core) > 0  # the chain verifies
    async with core.uow() as uow:
        answered = [e for e in await uow.audit.tail(50) if e.action == "survey.answered"]
    assert [e.details["question"] for e in answered] == ["frequency", "interests", "improve"]


async def test_survey_skip_back_and_stop(chat: Driver, core: PrivacyCore) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Skip")
    assert "Question 2 of 3" in chat.messages[-1].text
    await chat.press("Back")
    assert "Question 1 of 3" in chat.messages[-1].text
    await chat.press("Stop")
    assert "Survey stopped" in all_text(chat)


async def test_survey_answers_can_be_edited_and_removed(chat: Driver, core: PrivacyCore) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Weekly")
    await chat.press("Skip")
    await chat.press("Skip")
    await chat.press("✏️ How often")
    await chat.press("Rarely")
    ref = await customer_ref(core)
    async with core.uow() as uow:
        assert (await survey_answers(ref, "preferences", uow))["frequency"].value == "rarely"
    await chat.press("🗑 How often")
    async with core.uow() as uow:
        assert await survey_answers(ref, "preferences", uow) == {}


async def test_survey_resumes_where_the_customer_left_off(chat: Driver) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Weekly")
    await chat.send("/help")  # another command: the survey waits where it stood
    await chat.send("/survey")
    assert "You stopped the survey at question 2 of 3" in chat.messages[-1].text
    await chat.press("▶ Continue at question 2")
    assert "Question 2 of 3" in chat.messages[-1].text


async def test_a_choice_question_asks_for_buttons_when_text_is_typed(chat: Driver) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.send("weekly please")
    assert "with the buttons" in chat.messages[-2].text
    assert "Question 1 of 3" in chat.messages[-1].text


async def test_language_switch_answers_in_traditional_chinese(chat: Driver) -> None:
    await chat.send("/start")
    await chat.send("/language")
    await chat.press("繁體中文")
    await chat.send("/privacy")
    assert "私隱" in chat.messages[-1].text or "同意" in chat.messages[-1].text
    await chat.send("/help")
    assert "/privacy" in chat.messages[-1].text
    assert "私隱" in all_text(chat)


async def test_default_language_comes_from_telegram_language_code(make_chat: MakeChat) -> None:
    chat = await make_chat(BOB, language_code="zh-hans")
    if chat.channel == "whatsapp":
        pytest.skip("WhatsApp gives no language: the number's country decides (test_whatsapp)")
    await chat.send("/start")
    assert "隐私" in all_text(chat)


async def test_a_forged_button_is_refused_and_changes_nothing(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    before = await audit_count(core)
    message = chat.messages[-1]
    for data in ("AAAAAAAA|cs|marketing:1", "garbage", "x" * 64, "", "AAAAAAAA|zz|"):
        await chat.press_raw(data, message.id)
        assert chat.notice is not None
        assert "expired" in chat.notice
    assert await consents(core) == {}
    assert await audit_count(core) == before


async def test_another_customers_button_is_refused(make_chat: MakeChat, core: PrivacyCore) -> None:
    alice = await make_chat(ALICE)
    await alice.send("/start")
    _, data = next(
        (m, d) for m in reversed(alice.messages) for label, d in m.buttons if "Offers" in label
    )
    bob = await make_chat(BOB)
    await bob.send("/start")
    await bob.press_raw(data, bob.messages[-1].id)
    assert bob.notice is not None
    assert "expired" in bob.notice
    assert await consents(core, BOB) == {}


async def test_a_stale_button_does_not_toggle_twice(chat: Driver, core: PrivacyCore) -> None:
    await chat.send("/start")
    _, data = next((m, d) for m in chat.messages for label, d in m.buttons if "Offers" in label)
    await chat.press("Offers and news")
    await chat.press_raw(data, chat.messages[-2].id)  # the old "give" button again
    assert await consents(core) == {"marketing": True}


@pytest.mark.parametrize(
    "words",
    ["stop messaging me", "I want to unsubscribe", "我唔想再收到訊息", "不要再给我发消息"],
)
async def test_plain_words_about_messages_say_what_would_stop(chat: Driver, words: str) -> None:
    await chat.send("/start")
    await chat.press("Follow-ups after a purchase")
    await chat.send(words)
    assert "Follow-ups after a purchase" in chat.messages[-1].text
    assert chat.messages[-1].labels() == ["🔕 Stop all of these", "⚙️ Let me choose"]


async def test_unknown_text_gets_a_helpful_answer(chat: Driver) -> None:
    await chat.send("/start")
    await chat.send("x" * 4096)
    assert "did not understand" in chat.messages[-1].text
    assert "/privacy" in chat.messages[-1].text


async def test_an_unknown_command_gets_the_help(chat: Driver) -> None:
    await chat.send("/start")
    await chat.send("/frobnicate")
    assert "/survey" in chat.messages[-1].text


async def test_a_new_notice_version_asks_again(chat: Driver, core: PrivacyCore) -> None:
    await chat.send("/start")
    await chat.press("Offers and news")
    core.policy = core.policy.__class__(**{**core.policy.__dict__, "notice_version": "2027-01"})
    await chat.send("/help")
    assert "has changed" in all_text(chat)
    assert all(label.startswith(("☐", "📄")) for label in chat.messages[-1].labels())
    assert "earlier privacy notice" in chat.messages[-1].text
