"""What /delete and /mydata promise about backups is what the key store delivers,
in every language, and names the policy's key_backup_retention."""

from __future__ import annotations

import dataclasses

import pytest

from bot.render.i18n import catalog, locale_for
from core.app import PrivacyCore
from core.domain.calendar import Duration, TimeUnit
from tests.chat_drivers import ConsoleDriver

LANGUAGES = ["en", "zh-hans", "zh-hk"]


def before_duration(language: str, key: str) -> str:
    return catalog(locale_for(language))[key].split("{duration}")[0]


async def reply_to(core: PrivacyCore, language: str, command: str) -> str:
    chat = ConsoleDriver(core, 7001, language)
    await chat.send("/start")
    await chat.send(command)
    return chat.messages[-1].text


@pytest.mark.parametrize("language", LANGUAGES)
async def test_delete_says_key_backups_are_deleted_within_the_policys_time(
    core: PrivacyCore, language: str
) -> None:
    text = await reply_to(core, language, "/delete")
    assert before_duration(language, "rights.erase.backups") + "35" in text


@pytest.mark.parametrize("language", LANGUAGES)
async def test_mydata_says_the_data_key_is_kept_apart_and_what_delete_does_to_backups(
    core: PrivacyCore, language: str
) -> None:
    text = await reply_to(core, language, "/mydata")
    assert before_duration(language, "rights.mydata.protection") + "35" in text


async def test_a_shorter_key_backup_retention_is_what_delete_promises(core: PrivacyCore) -> None:
    core.policy = dataclasses.replace(core.policy, key_backup_retention=Duration(7, TimeUnit.DAYS))
    text = await reply_to(core, "en", "/delete")
    assert "deleted within 7 days" in text
    assert "35" not in text
